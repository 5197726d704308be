"""Smart Energy Key Establishment (cluster 0x0800, CBKE): the hub's server, the device's client, their wire
codec, checks, configuration, events and the key-agreement engines (host or the NCP's CBKE library)."""
