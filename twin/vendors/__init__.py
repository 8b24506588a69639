"""The bridge to production firewalls: import vendor policy, export what was tested.

import:  vendor text → `DeviceConfig` (panos, panos_set, fortigate) → `build_policy` → Policy
export:  Policy → `view` (named objects, vendor-neutral) → panos / fortigate text; vyos and
         nftables are the twin's own renderers (`twin.vyos`, `twin.render`), exported as they run
devices: `fetch` pulls a running config with netmiko; `sshpush` pushes a twin firewall's config
over SSH the way an engineer would.
"""
