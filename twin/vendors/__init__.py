"""The bridge to production firewalls: import vendor policy, export what was tested.

import:  vendor text → `importers/` → `DeviceConfig` → `translate/` (`build_policy`) → Policy
export:  Policy → `exporters/view` (named objects, vendor-neutral) → panos / fortigate text;
         vyos and nftables are the twin's own renderers (`twin.firewalls`), exported as they run
devices: `fetch` pulls a running config with netmiko; `sshpush` pushes a twin firewall's config
over SSH the way an engineer would.
"""
