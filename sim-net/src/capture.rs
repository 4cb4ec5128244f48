//! Packet capture: what `tcpdump -i DEV -w file.pcap` would record on every device of
//! every namespace at once. An observer, not a stage: the path calls
//! [`Network::capture_rx`]/[`Network::capture_tx`] at the two places a frame meets a
//! device (`dev_rx`, `dev_xmit`), plus the bridge's own receive and the loopback, and
//! these return after one flag check when capture is off.
//!
//! What each device's capture holds, as on Linux:
//! - both directions: the frames the device received and the frames it transmitted,
//!   each once (libpcap's `PF_PACKET` socket sees `PACKET_OUTGOING` and incoming);
//! - a bridge (`cni0`, `br0`) sees every frame entering it through a port, not only the
//!   ones addressed to the host: tcpdump puts the bridge in promiscuous mode and
//!   br_handle_frame_finish then passes a copy up (`local_rcv`), plus what the host
//!   itself sends out of the bridge;
//! - a vxlan device (`flannel.1`) sees the inner frames; the node's `eth0` sees the
//!   encapsulated UDP packets;
//! - `lo` holds each looped-back packet once (libpcap drops the outgoing copy on
//!   loopback), framed as Linux's `lo` frames it: Ethernet with zero MACs and
//!   ethertype 0x0800;
//! - a frame dropped because its device is down is not captured (tcpdump cannot
//!   capture on a down device).
//!
//! Bytes come from [`crate::wire`], checksums included. The pcap file format itself is
//! the renderer's business (src/render/pcap.rs in the binary).

use sim_core::SimTime;

use crate::device::DeviceKind;
use crate::netns::NsId;
use crate::network::Network;
use crate::packet::{Frame, FrameBody, Ipv4Packet, Mac};
use crate::wire;

/// One frame seen on one device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapturedFrame {
    /// Sim time the device saw the frame.
    pub time: SimTime,
    /// Namespace name (`node-1`, `pod-a`, `underlay`).
    pub netns: String,
    /// Device name inside that namespace (`eth0`, `cni0`, `flannel.1`, `lo`).
    pub dev: String,
    /// The Ethernet frame as on the wire (no FCS).
    pub bytes: Vec<u8>,
}

/// The capture log. Off by default; recording costs one flag check when off.
#[derive(Clone, Debug, Default)]
pub struct Capture {
    pub enabled: bool,
    pub frames: Vec<CapturedFrame>,
}

impl Capture {
    pub fn on() -> Self {
        Capture { enabled: true, frames: Vec::new() }
    }

    /// Records the frame built by `f` only when capture is on.
    #[inline]
    pub fn record(&mut self, f: impl FnOnce() -> CapturedFrame) {
        if self.enabled {
            self.frames.push(f());
        }
    }

    /// Moves out every captured frame, in the order they were seen (sim time order).
    pub fn take(&mut self) -> Vec<CapturedFrame> {
        std::mem::take(&mut self.frames)
    }
}

impl Network {
    /// Device `ifindex` received `frame`.
    #[inline]
    pub(crate) fn capture_rx(&mut self, ns: NsId, ifindex: u32, frame: &Frame) {
        if self.capture.enabled {
            self.capture_frame(ns, ifindex, frame);
        }
    }

    /// Device `ifindex` transmits `frame`. Loopback's transmit is not recorded: the
    /// frame comes straight back in and is recorded once, on receive.
    #[inline]
    pub(crate) fn capture_tx(&mut self, ns: NsId, ifindex: u32, frame: &Frame) {
        if self.capture.enabled
            && !self.ns(ns).devices.get(&ifindex).is_some_and(|d| matches!(d.kind, DeviceKind::Loopback))
        {
            self.capture_frame(ns, ifindex, frame);
        }
    }

    /// A packet looped back through `lo` (ip_local_out to a local address).
    #[inline]
    pub(crate) fn capture_loopback(&mut self, ns: NsId, lo: u32, pkt: &Ipv4Packet) {
        if self.capture.enabled {
            let frame = Frame { src: Mac::ZERO, dst: Mac::ZERO, body: FrameBody::Ipv4(pkt.clone()) };
            self.capture_frame(ns, lo, &frame);
        }
    }

    fn capture_frame(&mut self, ns: NsId, ifindex: u32, frame: &Frame) {
        let n = self.ns(ns);
        let cf = CapturedFrame {
            time: self.now,
            netns: n.name.clone(),
            dev: n.dev_name(ifindex).to_string(),
            bytes: wire::frame_to_bytes(frame),
        };
        self.capture.record(|| cf);
    }
}
