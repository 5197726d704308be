"""Zigbee OTA upgrade images as a GB Communications Hub and the DCC see them."""
