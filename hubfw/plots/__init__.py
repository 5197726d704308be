"""Pictures of what the emulator recorded: the flash wear map now; download timelines and report pages next.

Nothing here is imported by a command until it draws, so `import hubfw` and the non-plotting commands
never load matplotlib (tests/plots/test_lazy.py checks that).
"""
