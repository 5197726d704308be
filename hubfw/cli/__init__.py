"""The `hubfw` command (layer 8): `main` puts every package's commands in one group; `options` declares the
options and parameter types the commands share, once."""
