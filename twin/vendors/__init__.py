"""The bridge to production firewalls: import vendor policy, export what was tested.

import:  vendor text → `DeviceConfig` (panos, panos_set, fortigate) → `build_policy` → Policy
export:  Policy → `exchange.view` (named objects, vendor-neutral) → panos / fortigate / vyos text
devices: `fetch` pulls a running config with netmiko; `sshpush` pushes a twin firewall's config
over SSH the way an engineer would.
"""
