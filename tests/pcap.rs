//! `kube-netsim run FILE --pcap DIR`: the file format byte by byte, determinism, what
//! each interface's capture holds, and (when tshark is installed) that Wireshark's
//! dissectors read the captures: the TCP handshake, the HTTP GET, VXLAN with its inner
//! frame, and every checksum good; and (when tcpdump is installed) that tcpdump prints
//! DNS exactly as the trace does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use kube_netsim::render::pcap;
use sim_core::SimTime;
use sim_net::packet::{FrameBody, L4, TcpFlags};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `scenario` with `--pcap` into a fresh directory named after `tag`; returns the
/// directory and its files (name -> bytes).
fn capture(scenario: &str, tag: &str) -> (PathBuf, BTreeMap<String, Vec<u8>>) {
    let dir = std::env::temp_dir().join(format!("kube-netsim-pcap-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new(env!("CARGO_BIN_EXE_kube-netsim"))
        .args(["run", "--detail", "summary", "--pcap"])
        .arg(&dir)
        .arg(root().join(scenario))
        .output()
        .expect("binary runs");
    assert!(out.status.success(), "{scenario}: {}", String::from_utf8_lossy(&out.stderr));
    let mut files = BTreeMap::new();
    for e in std::fs::read_dir(&dir).expect("capture dir exists") {
        let p = e.unwrap().path();
        files.insert(p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap());
    }
    (dir, files)
}

/// The frames of a pcap file written by us (little-endian, Ethernet).
fn records(file: &[u8]) -> Vec<(u32, u32, &[u8])> {
    assert_eq!(&file[..24], &pcap::global_header());
    let mut out = Vec::new();
    let mut at = 24;
    while at < file.len() {
        let word = |o: usize| u32::from_le_bytes(file[at + o..at + o + 4].try_into().unwrap());
        let (secs, micros, incl, orig) = (word(0), word(4), word(8) as usize, word(12) as usize);
        assert_eq!(incl, orig, "no frame is truncated");
        out.push((secs, micros, &file[at + 16..at + 16 + incl]));
        at += 16 + incl;
    }
    assert_eq!(at, file.len(), "the file ends on a record boundary");
    out
}

#[test]
fn the_global_header_is_classic_pcap_little_endian_ethernet() {
    let expected: [u8; 24] = [
        0xd4, 0xc3, 0xb2, 0xa1, // magic 0xa1b2c3d4, little-endian: microsecond timestamps
        0x02, 0x00, 0x04, 0x00, // version 2.4
        0x00, 0x00, 0x00, 0x00, // thiszone
        0x00, 0x00, 0x00, 0x00, // sigfigs
        0x00, 0x00, 0x04, 0x00, // snaplen 262144
        0x01, 0x00, 0x00, 0x00, // LINKTYPE_ETHERNET
    ];
    assert_eq!(pcap::global_header(), expected);
}

#[test]
fn a_record_has_sim_seconds_and_truncated_microseconds() {
    let mut out = Vec::new();
    pcap::push_record(&mut out, SimTime::from_nanos(3_000_015_999), &[0xaa, 0xbb, 0xcc]);
    let expected: [u8; 19] = [
        3, 0, 0, 0, // ts_sec
        15, 0, 0, 0, // ts_usec: 15.999 µs truncated to 15
        3, 0, 0, 0, // incl_len
        3, 0, 0, 0, // orig_len
        0xaa, 0xbb, 0xcc,
    ];
    assert_eq!(out, expected);
}

#[test]
fn two_runs_write_byte_identical_captures() {
    let (_, a) = capture("scenarios/http-pod-to-pod.yaml", "det-a");
    let (_, b) = capture("scenarios/http-pod-to-pod.yaml", "det-b");
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (name, bytes) in &a {
        assert!(bytes == &b[name], "{name} differs between two runs");
    }
}

#[test]
fn every_interface_that_saw_traffic_has_a_file_in_time_order() {
    let (_, files) = capture("scenarios/http-pod-to-pod.yaml", "names");
    for name in
        ["pod-a_eth0.pcap", "pod-a_lo.pcap", "pod-c_eth0.pcap", "node-1_cni0.pcap", "node-1_eth0.pcap"]
    {
        assert!(files.contains_key(name), "{name} missing from {:?}", files.keys());
    }
    for (name, bytes) in &files {
        let recs = records(bytes);
        assert!(!recs.is_empty(), "{name} is empty");
        let times: Vec<(u32, u32)> = recs.iter().map(|r| (r.0, r.1)).collect();
        assert!(times.is_sorted(), "{name} is not in time order");
        for (_, _, frame) in recs {
            sim_net::wire::parse_frame(frame).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}

#[test]
fn loopback_frames_have_zero_macs_and_the_ipv4_ethertype() {
    let (_, files) = capture("scenarios/http-pod-to-pod.yaml", "lo");
    let recs = records(&files["pod-a_lo.pcap"]);
    assert!(recs.len() >= 3, "handshake on lo");
    for (_, _, f) in recs {
        assert_eq!(&f[..14], &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00]);
    }
}

#[test]
fn a_veth_capture_holds_both_directions_once() {
    let (_, files) = capture("scenarios/http-pod-to-pod.yaml", "dirs");
    // pod-a's eth0: its own SYN to c:80 (sent) and c's SYN-ACK (received), each once.
    let syns = records(&files["pod-a_eth0.pcap"])
        .iter()
        .filter_map(|(_, _, f)| match sim_net::wire::parse_frame(f).ok()?.body {
            FrameBody::Ipv4(p) => match p.body {
                L4::Tcp(t) if t.flags.has(TcpFlags::SYN) && (t.sport == 80 || t.dport == 80) => {
                    Some(t.flags.has(TcpFlags::ACK))
                }
                _ => None,
            },
            _ => None,
        })
        .collect::<Vec<bool>>();
    assert_eq!(syns, vec![false, true], "one SYN out, one SYN-ACK in");
}

// ---- tshark ----

/// `Some(())` when tshark can run; otherwise says so on stderr and returns `None`.
fn tshark_available() -> Option<()> {
    match Command::new("tshark").arg("--version").output() {
        Ok(o) if o.status.success() => Some(()),
        Ok(o) => panic!(
            "tshark is installed but `tshark --version` failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => {
            // Straight to the process's stderr, not eprintln!: libtest captures the
            // latter for passing tests, and a skip must never be silent.
            let msg = format!(
                "SKIPPED: tshark not installed ({e}); install it with \
                 `DEBIAN_FRONTEND=noninteractive apt-get install -y tshark` (.ci/run does)\n"
            );
            let _ = std::io::Write::write_all(&mut std::io::stderr(), msg.as_bytes());
            None
        }
    }
}

const CHECK_CHECKSUMS: [&str; 8] = [
    "-o",
    "ip.check_checksum:TRUE",
    "-o",
    "tcp.check_checksum:TRUE",
    "-o",
    "udp.check_checksum:TRUE",
    "-d",
    "udp.port==8472,vxlan",
];

fn tshark(file: &Path, args: &[&str]) -> String {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args(CHECK_CHECKSUMS)
        .args(args)
        .output()
        .expect("tshark runs");
    assert!(
        out.status.success(),
        "tshark {args:?} on {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("tshark prints UTF-8")
}

#[test]
fn tshark_decodes_the_handshake_and_the_http_get() {
    if tshark_available().is_none() {
        return;
    }
    let (dir, _) = capture("scenarios/http-pod-to-pod.yaml", "tshark-http");
    let f = dir.join("pod-a_eth0.pcap");
    let flags = tshark(&f, &["-Y", "tcp.port==80", "-T", "fields", "-e", "tcp.flags.str"]);
    let flags: Vec<&str> = flags.lines().collect();
    // tshark's flag strings: "··········S·" for SYN, "·······A··S·" for SYN-ACK.
    assert!(flags.len() >= 3, "{flags:?}");
    assert!(flags[0].ends_with("S·") && !flags[0].contains('A'), "first is a SYN: {flags:?}");
    assert!(flags[1].contains('A') && flags[1].ends_with("S·"), "then a SYN-ACK: {flags:?}");
    assert!(flags[2].contains('A') && !flags[2].contains('S'), "then the ACK: {flags:?}");
    let methods = tshark(
        &f,
        &["-Y", "http.request", "-T", "fields", "-e", "http.request.method", "-e", "http.request.uri"],
    );
    assert_eq!(methods.trim(), "GET\t/", "{methods}");
    let codes = tshark(&f, &["-Y", "http.response", "-T", "fields", "-e", "http.response.code"]);
    assert_eq!(codes.trim(), "200", "{codes}");
    // The closed port: c's kernel answers with a RST; the closed UDP port with ICMP.
    let rst = tshark(&f, &["-Y", "tcp.flags.reset==1", "-T", "fields", "-e", "ip.src", "-e", "tcp.srcport"]);
    assert_eq!(rst.trim(), "10.244.1.2\t8080", "{rst}");
    let icmp = tshark(&f, &["-Y", "icmp.type==3 && icmp.code==3", "-T", "fields", "-e", "ip.src"]);
    assert!(icmp.starts_with("10.244.1.2"), "{icmp}");
}

#[test]
fn tshark_decodes_vxlan_with_the_inner_pod_addresses() {
    if tshark_available().is_none() {
        return;
    }
    let (dir, _) = capture("scenarios/cross-node-vxlan.yaml", "tshark-vxlan");
    let f = dir.join("node-1_eth0.pcap");
    let out = tshark(&f, &["-Y", "vxlan", "-T", "fields", "-e", "vxlan.vni", "-e", "ip.src", "-e", "ip.dst"]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(!lines.is_empty(), "no VXLAN frame decoded");
    assert!(lines.iter().all(|l| l.starts_with("1\t")), "VNI 1 everywhere: {out}");
    // Outer node addresses, then the inner pod addresses.
    assert!(lines.contains(&"1\t192.168.1.11,10.244.0.2\t192.168.1.12,10.244.1.2"), "{out}");
    assert!(lines.contains(&"1\t192.168.1.12,10.244.1.2\t192.168.1.11,10.244.0.2"), "{out}");
}

#[test]
fn tshark_finds_every_checksum_good() {
    if tshark_available().is_none() {
        return;
    }
    let mut checked = 0;
    for (scenario, tag) in [
        ("scenarios/http-pod-to-pod.yaml", "tshark-ck-http"),
        ("scenarios/cross-node-vxlan.yaml", "tshark-ck-vxlan"),
    ] {
        let (dir, files) = capture(scenario, tag);
        for name in files.keys() {
            let f = dir.join(name);
            let fields = [
                "-T",
                "fields",
                "-E",
                "separator=,",
                "-e",
                "ip.checksum.status",
                "-e",
                "tcp.checksum.status",
                "-e",
                "udp.checksum.status",
                "-e",
                "icmp.checksum.status",
            ];
            // Wireshark's checksum status: 0 bad, 1 good, 2 unverified.
            for line in tshark(&f, &fields).lines() {
                for v in line.split(',').filter(|v| !v.is_empty()) {
                    assert_ne!(v, "0", "{scenario}: a bad checksum in {name}: {line}");
                    checked += usize::from(v == "1");
                }
            }
            let expert = tshark(&f, &["-q", "-z", "expert"]);
            assert!(!expert.to_lowercase().contains("bad checksum"), "{scenario}: {name}: {expert}");
        }
    }
    assert!(checked > 100, "tshark verified only {checked} checksums");
}

/// The trace prints DNS the way tcpdump does: every DNS line real tcpdump prints from
/// the capture of the client pod (`IP` line minus timestamp) appears in the run's trace.
#[test]
fn tcpdump_prints_dns_exactly_like_the_trace() {
    let tcpdump_ok = Command::new("tcpdump").arg("--version").output().is_ok_and(|o| o.status.success());
    if !tcpdump_ok {
        let msg = "SKIPPED: tcpdump not installed; install it with `apt-get install -y tcpdump`\n";
        let _ = std::io::Write::write_all(&mut std::io::stderr(), msg.as_bytes());
        return;
    }
    let (dir, _) = capture("scenarios/dns-service-discovery.yaml", "tcpdump-dns");
    let out = Command::new("tcpdump")
        .arg("-nr")
        .arg(dir.join("pod-client_eth0.pcap"))
        .args(["udp", "port", "53"])
        .output()
        .unwrap();
    let lines = String::from_utf8_lossy(&out.stdout).to_string();
    let run = Command::new(env!("CARGO_BIN_EXE_kube-netsim"))
        .args(["run", "--detail", "hops"])
        .arg(root().join("scenarios/dns-service-discovery.yaml"))
        .output()
        .unwrap();
    let trace = String::from_utf8_lossy(&run.stdout).to_string();
    let dns: Vec<&str> = lines.lines().filter_map(|l| l.split_once(" IP ").map(|(_, rest)| rest)).collect();
    assert!(dns.len() >= 20, "{lines}");
    assert!(dns.iter().any(|l| l.contains(" NXDomain*- 0/1/0 (")), "{lines}");
    assert!(dns.iter().any(|l| l.contains(" ServFail- 0/0/0 (")), "{lines}");
    for l in dns {
        assert!(trace.contains(&format!("| {l}")), "tcpdump printed {l:?}, the trace does not have it");
    }
}

#[test]
fn a_capture_directory_holds_only_the_last_runs_files() {
    let dir = std::env::temp_dir().join(format!("kube-netsim-pcap-{}-stale", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // Left by an earlier run of another scenario, plus a file that is not a capture.
    std::fs::write(dir.join("pod-gone_eth0.pcap"), b"stale").unwrap();
    std::fs::write(dir.join("notes.txt"), b"mine").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kube-netsim"))
        .args(["run", "--detail", "summary", "--pcap"])
        .arg(&dir)
        .arg(root().join("scenarios/http-pod-to-pod.yaml"))
        .output()
        .expect("binary runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n == "pod-gone_eth0.pcap"), "{names:?}");
    assert!(names.iter().any(|n| n == "notes.txt"), "other files stay: {names:?}");
    assert!(names.iter().any(|n| n == "pod-a_eth0.pcap"), "{names:?}");
    let help = Command::new(env!("CARGO_BIN_EXE_kube-netsim")).args(["run", "--help"]).output().unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("every *.pcap file already"));
    let _ = std::fs::remove_dir_all(&dir);
}
