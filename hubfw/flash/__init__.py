"""An emulated NOR flash device: erase to 0xFF, program clears bits, wear and power cuts counted."""
