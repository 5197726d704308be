"""Fuzz targets for tools/fuzz.py: the OTA file parser and the hub's ZCL servers, each with its oracle."""
