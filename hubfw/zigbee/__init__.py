"""The one wire vocabulary (layer 1) that hub, HAN servers, radios and simulator share: profile, cluster,
endpoint and EZSP ids; the ZCL frame codec both ways; the APS frame, its payload limits and fragments."""
