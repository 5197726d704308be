"""Bench hardware support: coordinator profiles, serial port discovery and `hubfw doctor`."""
