"""One adapter per firewall kind (nftables, VyOS): how its configuration is rendered, applied and
read back.
"""
