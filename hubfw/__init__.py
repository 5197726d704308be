"""hubfw — emulator of a GB smart metering Communications Hub's firmware distribution."""

__version__ = "0.1.0"
