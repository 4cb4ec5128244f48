//! The classic libpcap file format (what `tcpdump -w` writes), hand-rolled: a 24-byte
//! global header, then per frame a 16-byte record header and the frame's bytes. See
//! <https://www.tcpdump.org/manpages/pcap-savefile.5.html>.
//!
//! - Link type 1 (`LINKTYPE_ETHERNET`): every capture holds Ethernet frames, `lo`'s
//!   included (zero MACs, as Linux frames them).
//! - Everything is written little-endian with magic 0xa1b2c3d4 (readers detect the byte
//!   order from the magic), so a capture is byte-identical on any host.
//! - Timestamps are sim time since the start of the run (the epoch is 1970-01-01 in a
//!   reader: a frame at sim 1.000015s shows as 00:00:01.000015). The format's
//!   resolution is a microsecond: sim nanoseconds are truncated, so frames less than
//!   1 µs apart can show the same timestamp (file order is still the order they were
//!   seen).
//! - No frame is cut short: the snap length is 262144 (tcpdump's default) and every
//!   record has `incl_len == orig_len`.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use sim_core::SimTime;
use sim_net::capture::CapturedFrame;

/// `LINKTYPE_ETHERNET` (and `DLT_EN10MB`).
pub const LINKTYPE_ETHERNET: u32 = 1;
/// tcpdump's default snap length.
pub const SNAPLEN: u32 = 262_144;
const MAGIC_MICROS: u32 = 0xa1b2_c3d4;

/// The 24-byte global header.
pub fn global_header() -> [u8; 24] {
    let mut h = [0u8; 24];
    h[0..4].copy_from_slice(&MAGIC_MICROS.to_le_bytes());
    h[4..6].copy_from_slice(&2u16.to_le_bytes()); // version 2.4
    h[6..8].copy_from_slice(&4u16.to_le_bytes());
    // thiszone (8..12) and sigfigs (12..16) are 0.
    h[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
    h[20..24].copy_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
    h
}

/// Appends one record (16-byte header + frame) for a frame seen at `time`.
pub fn push_record(out: &mut Vec<u8>, time: SimTime, frame: &[u8]) {
    let ns = time.as_nanos();
    let secs = u32::try_from(ns / 1_000_000_000).expect("sim time fits a pcap timestamp (136 years)");
    let micros = ((ns % 1_000_000_000) / 1_000) as u32;
    let len = u32::try_from(frame.len()).expect("a frame is shorter than 4 GiB");
    out.extend_from_slice(&secs.to_le_bytes());
    out.extend_from_slice(&micros.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes()); // incl_len
    out.extend_from_slice(&len.to_le_bytes()); // orig_len
    out.extend_from_slice(frame);
}

/// A whole pcap file holding `frames` in time order (stable: equal times keep the order
/// they were seen in).
pub fn file<'a>(frames: impl IntoIterator<Item = &'a CapturedFrame>) -> Vec<u8> {
    let mut frames: Vec<&CapturedFrame> = frames.into_iter().collect();
    frames.sort_by_key(|f| f.time);
    let mut out = global_header().to_vec();
    for f in frames {
        push_record(&mut out, f.time, &f.bytes);
    }
    out
}

/// The file name of one interface's capture: `<netns>_<dev>.pcap`, with any character
/// other than `[A-Za-z0-9._-]` replaced by `-`.
pub fn file_name(netns: &str, dev: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '-' }).collect()
    };
    format!("{}_{}.pcap", clean(netns), clean(dev))
}

/// One pcap file per interface that saw traffic, keyed (and sorted) by file name.
pub fn per_interface(frames: &[CapturedFrame]) -> BTreeMap<String, Vec<u8>> {
    let mut groups: BTreeMap<String, Vec<&CapturedFrame>> = BTreeMap::new();
    for f in frames {
        groups.entry(file_name(&f.netns, &f.dev)).or_default().push(f);
    }
    groups.into_iter().map(|(name, fs)| (name, file(fs))).collect()
}

/// Writes [`per_interface`] into `dir` (created if missing); returns the paths written.
/// Every `*.pcap` file already directly in `dir` is removed first, so the directory
/// holds exactly this run's interfaces (a capture left from an earlier run, of an
/// interface this run does not have, would otherwise pass for this run's).
pub fn write_dir(dir: &Path, frames: &[CapturedFrame]) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "pcap") && p.is_file() {
            std::fs::remove_file(&p)?;
        }
    }
    let mut written = Vec::new();
    for (name, bytes) in per_interface(frames) {
        let p = dir.join(name);
        std::fs::write(&p, bytes)?;
        written.push(p);
    }
    Ok(written)
}
