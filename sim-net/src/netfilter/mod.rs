//! Netfilter: iptables rules, iptables-restore/save, evaluation. (in progress)
