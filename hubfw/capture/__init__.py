"""Captures of the HAN as the hub sees it (layer 1: bytes in, bytes out, the clock passed in).

`frames` turns each APS frame the hub sends or receives into an IEEE 802.15.4 data frame with Zigbee NWK
and APS headers and no security (the decrypted view); `pcap` writes them to a libpcap file and `zep` sends
them to Wireshark live as ZEP v2 over UDP; `sinks` are the two as the hub feeds them.
"""
