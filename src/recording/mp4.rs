//! A fragmented MP4 writer for an H.264 stream with a real timestamp on every frame.
//!
//! Why our own muxer: the encoder (FFmpeg, fed raw frames on a pipe) can only give frames a
//! constant rate, while a camera's frames come when they come. Here each sample's duration is
//! the gap to the next frame's real timestamp, so the video's time line is the session's.
//!
//! Why fragmented: the header (`moov`) is written first and says nothing about the samples; each
//! fragment (`moof` + `mdat`, a quarter of a second) is complete on its own and written in one
//! call. A process killed mid-recording leaves a playable file of every fragment before the kill.

use std::io::Write;

/// Ticks per second of the video track's time line (the MPEG convention; 30 and 25 fps and
/// 1 ms all divide it).
pub const TIMESCALE: u32 = 90_000;

/// How long a fragment may grow before it is written out.
const FRAGMENT_TICKS: u64 = TIMESCALE as u64 / 4;

/// One encoded frame: its NAL units (without start codes) and whether it starts a GOP.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessUnit {
    pub nal_units: Vec<Vec<u8>>,
    pub keyframe: bool,
}

const NAL_SPS: u8 = 7;
const NAL_PPS: u8 = 8;
const NAL_AUD: u8 = 9;
const NAL_IDR: u8 = 5;

fn nal_type(nal: &[u8]) -> u8 {
    nal.first().map_or(0, |b| b & 0x1f)
}

/// Splits an H.264 Annex B byte stream into access units, one per frame. The encoder is asked
/// for an access unit delimiter (AUD) before every frame, so a frame ends where the next AUD
/// starts; bytes that may still belong to an unfinished unit stay buffered.
#[derive(Default)]
pub struct AnnexBSplitter {
    buffer: Vec<u8>,
    current: Vec<Vec<u8>>,
}

impl AnnexBSplitter {
    /// Adds bytes from the stream; returns the access units they completed.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<AccessUnit> {
        self.buffer.extend_from_slice(bytes);
        let starts = start_codes(&self.buffer);
        // The last NAL unit may be incomplete until the next start code arrives.
        let Some(&(last_start, _)) = starts.last() else { return Vec::new() };
        let units = self.take_nals(&starts);
        self.buffer.drain(..last_start);
        units
    }

    /// The end of the stream: whatever is buffered is the last access unit.
    pub fn finish(&mut self) -> Vec<AccessUnit> {
        let mut bounds = start_codes(&self.buffer);
        bounds.push((self.buffer.len(), self.buffer.len()));
        let mut units = self.take_nals(&bounds);
        self.buffer.clear();
        units.extend(self.take_current());
        units
    }

    /// The NAL units between consecutive start codes of the buffer, added in order; returns the
    /// access units they completed.
    fn take_nals(&mut self, bounds: &[(usize, usize)]) -> Vec<AccessUnit> {
        let mut units = Vec::new();
        for pair in bounds.windows(2) {
            let nal = trim_trailing_zeros(&self.buffer[pair[0].1..pair[1].0]).to_vec();
            self.add_nal(nal, &mut units);
        }
        units
    }

    fn add_nal(&mut self, nal: Vec<u8>, units: &mut Vec<AccessUnit>) {
        if nal.is_empty() {
            return;
        }
        if nal_type(&nal) == NAL_AUD {
            if let Some(unit) = self.take_current() {
                units.push(unit);
            }
        }
        self.current.push(nal);
    }

    fn take_current(&mut self) -> Option<AccessUnit> {
        let nal_units = std::mem::take(&mut self.current);
        let has_picture = nal_units.iter().any(|nal| matches!(nal_type(nal), 1..=5));
        has_picture.then(|| {
            let keyframe = nal_units.iter().any(|nal| nal_type(nal) == NAL_IDR);
            AccessUnit { nal_units, keyframe }
        })
    }
}

/// `(start of the start code, start of the NAL unit)` for each start code in `bytes`.
fn start_codes(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    let mut i = 0;
    while i + 3 <= bytes.len() {
        if bytes[i] == 0 && bytes[i + 1] == 0 && bytes[i + 2] == 1 {
            let start = if i > 0 && bytes[i - 1] == 0 { i - 1 } else { i };
            found.push((start, i + 3));
            i += 3;
        } else {
            i += 1;
        }
    }
    found
}

fn trim_trailing_zeros(nal: &[u8]) -> &[u8] {
    let end = nal.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
    &nal[..end]
}

/// A sample waiting for its duration (known when the next frame's timestamp arrives).
struct PendingSample {
    data: Vec<u8>,
    pts: u64,
    keyframe: bool,
}

/// Writes the fragmented MP4. Frames arrive in order with their presentation time in ticks of
/// [`TIMESCALE`]; no B-frames, so decode order is presentation order.
pub struct FragmentedMp4<W: Write> {
    out: W,
    width: u16,
    height: u16,
    header_written: bool,
    sequence: u32,
    /// Complete samples (duration known) of the fragment being built: `(data, pts, duration, keyframe)`.
    fragment: Vec<(Vec<u8>, u64, u32, bool)>,
    last: Option<PendingSample>,
    last_duration: u32,
    samples_written: u64,
    bytes_written: u64,
}

impl<W: Write> FragmentedMp4<W> {
    pub fn new(out: W, width: u16, height: u16, nominal_fps: f64) -> Self {
        let last_duration = (f64::from(TIMESCALE) / nominal_fps.clamp(1.0, 1000.0)).round() as u32;
        Self {
            out,
            width,
            height,
            header_written: false,
            sequence: 0,
            fragment: Vec::new(),
            last: None,
            last_duration,
            samples_written: 0,
            bytes_written: 0,
        }
    }

    /// Frames whose fragment has reached the file.
    pub fn samples_written(&self) -> u64 {
        self.samples_written
    }

    pub fn bytes_written(&self) -> u64 {
        self.bytes_written
    }

    /// Adds a frame shown at `pts` ticks. A timestamp that does not move forward is nudged one
    /// tick past the previous one (MP4 needs increasing times).
    pub fn push(&mut self, unit: &AccessUnit, pts: u64) -> std::io::Result<()> {
        if !self.header_written {
            self.write_header(unit)?;
        }
        let data = length_prefixed(unit);
        if let Some(previous) = self.last.take() {
            let pts = pts.max(previous.pts + 1);
            let duration = u32::try_from(pts - previous.pts).unwrap_or(u32::MAX);
            self.last_duration = duration;
            self.complete(previous, duration)?;
            self.last = Some(PendingSample { data, pts, keyframe: unit.keyframe });
        } else {
            self.last = Some(PendingSample { data, pts, keyframe: unit.keyframe });
        }
        Ok(())
    }

    /// Writes the last frame (lasting as long as the one before it) and flushes.
    pub fn finish(&mut self) -> std::io::Result<()> {
        if let Some(last) = self.last.take() {
            let duration = self.last_duration;
            self.complete(last, duration)?;
        }
        self.write_fragment()?;
        self.out.flush()
    }

    pub fn get_ref(&self) -> &W {
        &self.out
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    fn complete(&mut self, sample: PendingSample, duration: u32) -> std::io::Result<()> {
        // A fragment starts at a keyframe when it can, so that a player can seek to it.
        if sample.keyframe {
            self.write_fragment()?;
        }
        let end = sample.pts + u64::from(duration);
        self.fragment.push((sample.data, sample.pts, duration, sample.keyframe));
        if end - self.fragment[0].1 >= FRAGMENT_TICKS {
            self.write_fragment()?;
        }
        Ok(())
    }

    fn write_header(&mut self, unit: &AccessUnit) -> std::io::Result<()> {
        let find = |kind| unit.nal_units.iter().find(|nal| nal_type(nal) == kind);
        let (Some(sps), Some(pps)) = (find(NAL_SPS), find(NAL_PPS)) else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "the encoder's first frame has no SPS/PPS parameter sets",
            ));
        };
        if sps.len() < 4 {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "the encoder's SPS is too short"));
        }
        let mut bytes = Vec::new();
        Box::new(b"ftyp").bytes(b"iso5").u32(512).bytes(b"iso5").bytes(b"iso6").bytes(b"mp41").bytes(b"avc1").end(&mut bytes);
        moov(self.width, self.height, sps, pps).end(&mut bytes);
        self.write_all(&bytes)?;
        self.header_written = true;
        Ok(())
    }

    fn write_fragment(&mut self) -> std::io::Result<()> {
        if self.fragment.is_empty() {
            return Ok(());
        }
        self.sequence += 1;
        let samples = std::mem::take(&mut self.fragment);
        let base_time = samples[0].1;
        let trun_flags = 0x000001 | 0x000100 | 0x000200 | 0x000400;
        // The data offset (from the moof's start to the first sample) depends on the moof's own
        // size, which is fixed by the sample count: build it once with 0, then patch.
        let build_moof = |data_offset: u32| {
            let mut trun = Box::full(b"trun", 0, trun_flags).u32(samples.len() as u32).u32(data_offset);
            for (data, _, duration, keyframe) in &samples {
                let flags = if *keyframe { 0x0200_0000 } else { 0x0101_0000 };
                trun = trun.u32(*duration).u32(data.len() as u32).u32(flags);
            }
            let traf = Box::new(b"traf")
                .child(Box::full(b"tfhd", 0, 0x02_0000).u32(1))
                .child(Box::full(b"tfdt", 1, 0).u64(base_time))
                .child(trun);
            let mut moof = Vec::new();
            Box::new(b"moof").child(Box::full(b"mfhd", 0, 0).u32(self.sequence)).child(traf).end(&mut moof);
            moof
        };
        let moof_len = build_moof(0).len();
        let mut bytes = build_moof((moof_len + 8) as u32);
        let payload: usize = samples.iter().map(|(data, ..)| data.len()).sum();
        bytes.extend_from_slice(&((payload + 8) as u32).to_be_bytes());
        bytes.extend_from_slice(b"mdat");
        for (data, ..) in &samples {
            bytes.extend_from_slice(data);
        }
        self.write_all(&bytes)?;
        self.out.flush()?;
        self.samples_written += samples.len() as u64;
        Ok(())
    }

    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.out.write_all(bytes)?;
        self.bytes_written += bytes.len() as u64;
        Ok(())
    }
}

/// The sample's NAL units with 4-byte length prefixes, leaving out what belongs in the header
/// (SPS, PPS) or only delimits the Annex B stream (AUD).
fn length_prefixed(unit: &AccessUnit) -> Vec<u8> {
    let mut data = Vec::new();
    for nal in unit.nal_units.iter().filter(|nal| !matches!(nal_type(nal), NAL_SPS | NAL_PPS | NAL_AUD)) {
        data.extend_from_slice(&(nal.len() as u32).to_be_bytes());
        data.extend_from_slice(nal);
    }
    data
}

const IDENTITY_MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

fn moov(width: u16, height: u16, sps: &[u8], pps: &[u8]) -> Box {
    let mut mvhd = Box::full(b"mvhd", 0, 0).u32(0).u32(0).u32(1000).u32(0).u32(0x0001_0000).u16(0x0100).zeros(10);
    mvhd = IDENTITY_MATRIX.iter().fold(mvhd, |b, &v| b.u32(v)).zeros(24).u32(2);
    let mut tkhd = Box::full(b"tkhd", 0, 0x3).u32(0).u32(0).u32(1).u32(0).u32(0).zeros(8).u16(0).u16(0).u16(0).u16(0);
    tkhd = IDENTITY_MATRIX.iter().fold(tkhd, |b, &v| b.u32(v)).u32(u32::from(width) << 16).u32(u32::from(height) << 16);
    let avcc = Box::new(b"avcC")
        .u8(1)
        .u8(sps[1])
        .u8(sps[2])
        .u8(sps[3])
        .u8(0xff) // 4-byte NAL lengths
        .u8(0xe1) // one SPS
        .u16(sps.len() as u16)
        .bytes(sps)
        .u8(1)
        .u16(pps.len() as u16)
        .bytes(pps);
    let avc1 = Box::new(b"avc1")
        .zeros(6)
        .u16(1) // data reference index
        .zeros(16)
        .u16(width)
        .u16(height)
        .u32(0x0048_0000)
        .u32(0x0048_0000)
        .u32(0)
        .u16(1) // frames per sample
        .zeros(32) // compressor name
        .u16(0x0018)
        .u16(0xffff)
        .child(avcc);
    let stbl = Box::new(b"stbl")
        .child(Box::full(b"stsd", 0, 0).u32(1).child(avc1))
        .child(Box::full(b"stts", 0, 0).u32(0))
        .child(Box::full(b"stsc", 0, 0).u32(0))
        .child(Box::full(b"stsz", 0, 0).u32(0).u32(0))
        .child(Box::full(b"stco", 0, 0).u32(0));
    let minf = Box::new(b"minf")
        .child(Box::full(b"vmhd", 0, 1).zeros(8))
        .child(Box::new(b"dinf").child(Box::full(b"dref", 0, 0).u32(1).child(Box::full(b"url ", 0, 1))))
        .child(stbl);
    let mdia = Box::new(b"mdia")
        .child(Box::full(b"mdhd", 0, 0).u32(0).u32(0).u32(TIMESCALE).u32(0).u16(0x55c4).u16(0))
        .child(Box::full(b"hdlr", 0, 0).u32(0).bytes(b"vide").zeros(12).bytes(b"glimpse video\0"))
        .child(minf);
    let trak = Box::new(b"trak").child(tkhd).child(mdia);
    let mvex = Box::new(b"mvex").child(Box::full(b"trex", 0, 0).u32(1).u32(1).u32(0).u32(0).u32(0));
    Box::new(b"moov").child(mvhd).child(trak).child(mvex)
}

/// An ISO BMFF box under construction: its type, then its payload; the size is written at the end.
struct Box {
    kind: [u8; 4],
    payload: Vec<u8>,
}

impl Box {
    fn new(kind: &[u8; 4]) -> Self {
        Self { kind: *kind, payload: Vec::new() }
    }

    /// A "full box": version and 24-bit flags first.
    fn full(kind: &[u8; 4], version: u8, flags: u32) -> Self {
        Self::new(kind).u32((u32::from(version) << 24) | (flags & 0x00ff_ffff))
    }

    fn u8(mut self, v: u8) -> Self {
        self.payload.push(v);
        self
    }

    fn u16(mut self, v: u16) -> Self {
        self.payload.extend_from_slice(&v.to_be_bytes());
        self
    }

    fn u32(mut self, v: u32) -> Self {
        self.payload.extend_from_slice(&v.to_be_bytes());
        self
    }

    fn u64(mut self, v: u64) -> Self {
        self.payload.extend_from_slice(&v.to_be_bytes());
        self
    }

    fn zeros(mut self, n: usize) -> Self {
        self.payload.resize(self.payload.len() + n, 0);
        self
    }

    fn bytes(mut self, v: &[u8]) -> Self {
        self.payload.extend_from_slice(v);
        self
    }

    fn child(mut self, child: Box) -> Self {
        child.end(&mut self.payload);
        self
    }

    fn end(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&((self.payload.len() + 8) as u32).to_be_bytes());
        out.extend_from_slice(&self.kind);
        out.extend_from_slice(&self.payload);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nal(kind: u8, len: usize) -> Vec<u8> {
        let mut nal = vec![0x60 | kind];
        nal.extend((1..len).map(|i| (i % 200 + 1) as u8));
        nal
    }

    fn annex_b(units: &[Vec<Vec<u8>>]) -> Vec<u8> {
        let mut stream = Vec::new();
        for unit in units {
            for nal in unit {
                stream.extend_from_slice(&[0, 0, 0, 1]);
                stream.extend_from_slice(nal);
            }
        }
        stream
    }

    #[test]
    fn splitter_finds_one_unit_per_frame_whatever_the_chunking() {
        let frames = vec![
            vec![nal(NAL_AUD, 2), nal(NAL_SPS, 10), nal(NAL_PPS, 4), nal(NAL_IDR, 300)],
            vec![nal(NAL_AUD, 2), nal(1, 120)],
            vec![nal(NAL_AUD, 2), nal(6, 8), nal(1, 90)],
        ];
        let stream = annex_b(&frames);
        for chunk in [1, 3, 7, 64, stream.len()] {
            let mut splitter = AnnexBSplitter::default();
            let mut units: Vec<AccessUnit> = stream.chunks(chunk).flat_map(|c| splitter.push(c)).collect();
            assert_eq!(units.len(), 2, "chunk {chunk}: the last frame waits for the end of the stream");
            units.extend(splitter.finish());
            assert_eq!(units.len(), 3, "chunk {chunk}");
            for (unit, frame) in units.iter().zip(&frames) {
                assert_eq!(&unit.nal_units, frame, "chunk {chunk}");
            }
            assert_eq!(units.iter().map(|u| u.keyframe).collect::<Vec<_>>(), [true, false, false]);
        }
    }

    /// `(kind, payload)` of the top-level boxes.
    fn top_level_boxes(bytes: &[u8]) -> Vec<([u8; 4], &[u8])> {
        let mut boxes = Vec::new();
        let mut at = 0;
        while at + 8 <= bytes.len() {
            let size = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
            boxes.push((bytes[at + 4..at + 8].try_into().unwrap(), &bytes[at + 8..at + size]));
            at += size;
        }
        assert_eq!(at, bytes.len(), "boxes must tile the file");
        boxes
    }

    #[test]
    fn fragments_carry_each_frames_real_duration() {
        let mut mp4 = FragmentedMp4::new(Vec::new(), 64, 48, 30.0);
        let first =
            AccessUnit { nal_units: vec![nal(NAL_AUD, 2), nal(NAL_SPS, 10), nal(NAL_PPS, 4), nal(NAL_IDR, 50)], keyframe: true };
        let other = AccessUnit { nal_units: vec![nal(NAL_AUD, 2), nal(1, 20)], keyframe: false };
        // Irregular camera timing: 33 ms, 40 ms, 28 ms, ...
        let times_ms = [0u64, 33, 73, 101, 140, 400];
        for (i, ms) in times_ms.iter().enumerate() {
            mp4.push(if i == 0 { &first } else { &other }, ms * 90).unwrap();
        }
        assert_eq!(mp4.samples_written(), 5, "a fragment is written once it spans 250 ms");
        mp4.finish().unwrap();
        let bytes = mp4.into_inner();
        let boxes = top_level_boxes(&bytes);
        let kinds: Vec<&[u8; 4]> = boxes.iter().map(|(k, _)| k).collect();
        assert_eq!(kinds, [b"ftyp", b"moov", b"moof", b"mdat", b"moof", b"mdat"]);
        // The first fragment's trun: 5 samples with durations from the real gaps.
        let moof = boxes[2].1;
        let trun_at = moof.windows(4).position(|w| w == b"trun").unwrap() + 4;
        let count = u32::from_be_bytes(moof[trun_at + 4..trun_at + 8].try_into().unwrap());
        assert_eq!(count, 5);
        let durations: Vec<u32> = (0..5)
            .map(|i| {
                let at = trun_at + 12 + i * 12;
                u32::from_be_bytes(moof[at..at + 4].try_into().unwrap())
            })
            .collect();
        assert_eq!(durations, [33 * 90, 40 * 90, 28 * 90, 39 * 90, 260 * 90]);
        // The mdat holds the slices only, length-prefixed (SPS/PPS live in the avcC).
        assert_eq!(boxes[3].1.len(), (4 + 50) + 4 * (4 + 20));
    }
}
