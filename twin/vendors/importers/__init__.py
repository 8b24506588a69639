"""Vendor configuration text → DeviceConfig: one reader per vendor (PAN-OS, FortiGate, ASA/FTD)."""
