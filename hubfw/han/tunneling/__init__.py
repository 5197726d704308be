"""Smart Energy Tunneling (cluster 0x0704) for GBCS: the hub's server, the device's client, the wire codec and
the GB-HRGP message stream."""
