"""DeviceConfig → a twin policy: rules, addresses, services, NAT, zones, derived intent."""
