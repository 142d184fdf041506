//! Face geometry of the embedded astronaut portrait: its 68 landmarks, the frame layout and
//! the action-unit (AU) displacement bases.

/// The 68 iBUG landmarks of `assets/astronaut.png` (512x512), in source-image pixels.
///
/// Measured once, offline: the MediaPipe face-mesh teacher
/// (`mediapipe_face_landmark.onnx`, 192x192 input, RGB in [0, 1]) was run on a square crop of
/// 1.5x the mesh extent, re-centred three times and then averaged over 15 jittered crops
/// (shifts of +-3 px, scales 0.95-1.05; per-point std < 0.9 px); the 468 mesh points were
/// mapped to the 68 iBUG points with the usual correspondence (jaw 162 234 93 58 172 136 149
/// 148 152 377 378 365 397 288 323 454 389; brows 70 63 105 66 107 / 336 296 334 293 300;
/// nose 168 197 5 4 98 97 2 326 327; eyes 33 160 158 133 153 144 / 362 385 387 263 373 380;
/// mouth 61 39 37 0 267 269 291 405 314 17 84 181 78 82 13 312 308 317 14 87), the 17 jaw
/// points were resampled evenly along their polyline, and the result was checked by drawing it
/// on the image. (A Haar box + canonical-template fit was tried first; it misses the wide smile.)
pub const SRC_LANDMARKS: [[f32; 2]; 68] = [
    [180.1, 93.1],
    [179.5, 106.1],
    [179.4, 119.1],
    [181.1, 132.0],
    [183.8, 144.6],
    [190.0, 155.9],
    [198.9, 165.4],
    [209.3, 173.1],
    [221.6, 176.4],
    [234.0, 173.5],
    [245.2, 167.0],
    [255.2, 158.7],
    [262.6, 148.1],
    [266.9, 135.9],
    [270.2, 123.4],
    [271.7, 110.5],
    [272.7, 97.5],
    [187.0, 90.8],
    [191.0, 87.1],
    [197.4, 85.6],
    [205.7, 86.6],
    [215.5, 88.4],
    [236.4, 89.2],
    [246.4, 88.3],
    [255.0, 88.3],
    [261.4, 90.5],
    [265.2, 94.6],
    [225.1, 100.5],
    [224.3, 111.2],
    [223.5, 120.9],
    [223.0, 127.0],
    [210.4, 129.9],
    [217.3, 133.2],
    [222.9, 134.2],
    [228.6, 133.8],
    [236.0, 131.2],
    [193.9, 100.8],
    [198.4, 97.9],
    [205.9, 97.9],
    [213.3, 103.7],
    [207.3, 104.3],
    [200.0, 103.7],
    [236.9, 105.0],
    [244.9, 100.0],
    [252.4, 100.6],
    [256.7, 104.0],
    [250.2, 106.4],
    [242.8, 106.3],
    [201.1, 139.1],
    [209.8, 138.4],
    [216.2, 138.9],
    [222.8, 140.0],
    [229.6, 139.5],
    [236.5, 139.7],
    [246.1, 141.2],
    [234.6, 152.6],
    [228.8, 154.8],
    [222.2, 155.3],
    [215.9, 154.2],
    [210.7, 151.6],
    [203.9, 140.0],
    [217.2, 141.5],
    [222.8, 142.1],
    [228.7, 142.0],
    [243.2, 141.8],
    [228.4, 149.8],
    [222.6, 150.0],
    [217.2, 149.2],
];

/// Haar `haarcascade_frontalface_default.xml` box of the face in the source image (x, y, w, h).
pub const SRC_FACE_BOX: [f32; 4] = [177.0, 66.0, 95.0, 95.0];

/// Source-image point placed at the frame centre (between the Haar box centre and the
/// landmark centre, so forehead and chin both fit).
const SRC_FACE_CENTRE: [f32; 2] = [225.0, 122.0];
/// Source image size.
pub const SRC_SIZE: i32 = 512;
/// Scale from source to frame pixels for a 480-px-high frame: the Haar box becomes ~171 px and
/// hairline-to-chin ~200 px.
const BASE_SCALE: f32 = 1.8;
/// Extra canvas border around the frame so head motion never samples outside the photo.
pub const MARGIN: i32 = 16;

/// Placement of the source photo in the frame: frame = k * src + (tx, ty).
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    pub k: f32,
    pub tx: f32,
    pub ty: f32,
}

impl Layout {
    pub fn new(width: i32, height: i32) -> Layout {
        let (w, h) = (width as f32, height as f32);
        let m = MARGIN as f32;
        let src = SRC_SIZE as f32;
        let k = (BASE_SCALE * (h / 480.0).min(w / 640.0)).max((w + 2.0 * m) / src).max((h + 2.0 * m) / src);
        // Centre the face, then shift so that the photo covers the frame plus the margin.
        let tx = clamp_range(w / 2.0 - k * SRC_FACE_CENTRE[0], w + m - k * src, -m);
        let ty = clamp_range(h / 2.0 - k * SRC_FACE_CENTRE[1], h + m - k * src, -m);
        Layout { k, tx, ty }
    }

    pub fn to_frame(&self, p: [f32; 2]) -> [f32; 2] {
        [self.k * p[0] + self.tx, self.k * p[1] + self.ty]
    }
}

fn clamp_range(v: f32, lo: f32, hi: f32) -> f32 {
    if lo > hi { (lo + hi) / 2.0 } else { v.clamp(lo, hi) }
}

/// Action units with a displacement basis. One basis field per (AU, side).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Au {
    Au1,
    Au2,
    Au4,
    Au6,
    Au9,
    Au12,
    Au14,
    Au15,
}

pub const ALL_AUS: [Au; 8] = [Au::Au1, Au::Au2, Au::Au4, Au::Au6, Au::Au9, Au::Au12, Au::Au14, Au::Au15];

impl Au {
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Index of the basis field of `au` on one side. `left` = the subject's left (image right).
pub fn basis_index(au: Au, left: bool) -> usize {
    au.index() * 2 + usize::from(left)
}

pub const BASIS_COUNT: usize = ALL_AUS.len() * 2;

/// One Gaussian (RBF) component: displacement `weight * dir * exp(-|x-centre|^2 / (2 sigma^2))`.
#[derive(Debug, Clone, Copy)]
pub struct Comp {
    pub centre: [f32; 2],
    pub dir: [f32; 2],
    pub sigma: f32,
    pub weight: f32,
}

fn comp(centre: [f32; 2], dir: [f32; 2], sigma: f32, weight: f32) -> Comp {
    let n = (dir[0] * dir[0] + dir[1] * dir[1]).sqrt().max(1e-6);
    Comp { centre, dir: [dir[0] / n, dir[1] / n], sigma, weight }
}

fn add(p: [f32; 2], dx: f32, dy: f32) -> [f32; 2] {
    [p[0] + dx, p[1] + dy]
}

fn mid(a: [f32; 2], b: [f32; 2]) -> [f32; 2] {
    [(a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0]
}

/// Distance between the eye centres, the face's length unit.
pub fn interocular(lm: &[[f32; 2]; 68]) -> f32 {
    let mean = |r: std::ops::Range<usize>| {
        let n = r.len() as f32;
        let (mut x, mut y) = (0.0, 0.0);
        for i in r {
            x += lm[i][0];
            y += lm[i][1];
        }
        [x / n, y / n]
    };
    let a = mean(36..42);
    let b = mean(42..48);
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

/// The RBF components of one AU on one side, from the neutral landmarks in frame pixels.
///
/// Sides follow FACS: `left` is the subject's left, i.e. the image-right half (landmarks
/// 22-26, 42-47, 54); otherwise the subject's right (image-left: 17-21, 36-41, 48).
/// Directions are in image coordinates (y down). `lat` is the outward (away from the
/// midline) image-x direction for that side.
pub fn components(au: Au, left: bool, lm: &[[f32; 2]; 68]) -> Vec<Comp> {
    let u = interocular(lm);
    let lat = if left { 1.0 } else { -1.0 };
    let med = -lat;
    let p = |i: usize| lm[i];
    let (b_out, b_out2, b_mid, b_in2, b_in) = if left { (26, 25, 24, 23, 22) } else { (17, 18, 19, 20, 21) };
    let (e_in, e_lo_a, e_lo_b) = if left { (42, 47, 46) } else { (39, 40, 41) };
    let (nose_wing, corner, upper_lip, lower_lip_out) = if left { (35, 54, 52, 55) } else { (31, 48, 50, 59) };
    let up = [0.0, -1.0];
    let down = [0.0, 1.0];
    match au {
        // Inner brow raiser: inner half of the brow and the forehead above it move up.
        Au::Au1 => vec![
            comp(p(b_in), up, 0.17 * u, 1.0),
            comp(p(b_in2), up, 0.17 * u, 0.85),
            comp(p(b_mid), up, 0.17 * u, 0.4),
            comp(add(p(b_in), 0.0, -0.28 * u), up, 0.25 * u, 0.5),
        ],
        // Outer brow raiser: outer half of the brow up.
        Au::Au2 => vec![
            comp(p(b_out), up, 0.17 * u, 0.8),
            comp(p(b_out2), up, 0.17 * u, 1.0),
            comp(p(b_mid), up, 0.17 * u, 0.6),
            comp(add(p(b_out2), 0.0, -0.28 * u), up, 0.25 * u, 0.45),
        ],
        // Brow lowerer: brows down and pulled together, strongest at the inner end.
        Au::Au4 => vec![
            comp(p(b_in), [med * 0.55, 1.0], 0.15 * u, 1.0),
            comp(p(b_in2), [med * 0.45, 1.0], 0.15 * u, 0.85),
            comp(p(b_mid), [med * 0.3, 1.0], 0.15 * u, 0.45),
        ],
        // Cheek raiser: the cheek below the eye and the lower lid move up.
        Au::Au6 => {
            let lo = mid(p(e_lo_a), p(e_lo_b));
            vec![comp(add(lo, 0.0, 0.38 * u), [lat * 0.15, -1.0], 0.22 * u, 1.0), comp(lo, up, 0.10 * u, 0.35)]
        }
        // Nose wrinkler: nose wings and the sides of the nose up, upper lip slightly up,
        // inner brow slightly down.
        Au::Au9 => vec![
            comp(p(nose_wing), [med * 0.25, -1.0], 0.13 * u, 1.0),
            comp(mid(p(e_in), p(nose_wing)), [med * 0.15, -1.0], 0.13 * u, 0.75),
            comp(p(upper_lip), up, 0.11 * u, 0.45),
            comp(p(b_in), [med * 0.3, 1.0], 0.14 * u, 0.35),
        ],
        // Lip corner puller: the corner up and out, the cheek above it up.
        Au::Au12 => vec![
            comp(p(corner), [lat * 0.75, -0.65], 0.19 * u, 1.0),
            comp(add(p(corner), lat * 0.12 * u, -0.32 * u), [lat * 0.3, -1.0], 0.24 * u, 0.45),
        ],
        // Dimpler: the corner is tightened and drawn back into the cheek; in the image the
        // corner shifts slightly out/up while the cheek just lateral to it is pulled inwards
        // (towards the corner), which forms the dimple.
        Au::Au14 => vec![
            comp(p(corner), [lat * 0.6, -0.25], 0.09 * u, 0.7),
            comp(add(p(corner), lat * 0.22 * u, -0.02 * u), [med, 0.0], 0.10 * u, 0.8),
        ],
        // Lip corner depressor: corner down (slightly out), lower lip side and chin below it down.
        Au::Au15 => vec![
            comp(p(corner), [lat * 0.25, 1.0], 0.17 * u, 1.0),
            comp(p(lower_lip_out), down, 0.12 * u, 0.5),
            comp(add(p(corner), 0.0, 0.3 * u), down, 0.20 * u, 0.45),
        ],
    }
}

/// Axis-aligned integer region of the neutral frame where the expression fields live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roi {
    pub x0: i32,
    pub y0: i32,
    pub w: i32,
    pub h: i32,
}

impl Roi {
    pub fn len(&self) -> usize {
        (self.w.max(0) as usize) * (self.h.max(0) as usize)
    }
}

/// Precomputed per-(AU, side) displacement fields on `roi`, each normalised to a peak
/// magnitude of 1 px.
pub struct Bases {
    pub roi: Roi,
    pub fields: Vec<Vec<[f32; 2]>>,
    /// Per basis: ROI-local box [x0, y0, x1, y1) outside which its magnitude is below 1e-4.
    pub boxes: Vec<[i32; 4]>,
}

impl Bases {
    pub fn new(lm: &[[f32; 2]; 68], width: i32, height: i32) -> Bases {
        let mut comps = vec![Vec::new(); BASIS_COUNT];
        for au in ALL_AUS {
            for left in [false, true] {
                comps[basis_index(au, left)] = components(au, left, lm);
            }
        }
        // ROI: all centres +- 4 sigma, clipped to the frame.
        let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
        for c in comps.iter().flatten() {
            let r = 4.0 * c.sigma;
            x0 = x0.min(c.centre[0] - r);
            y0 = y0.min(c.centre[1] - r);
            x1 = x1.max(c.centre[0] + r);
            y1 = y1.max(c.centre[1] + r);
        }
        let x0 = (x0.floor() as i32).clamp(0, width - 1);
        let y0 = (y0.floor() as i32).clamp(0, height - 1);
        let x1 = (x1.ceil() as i32).clamp(x0 + 1, width);
        let y1 = (y1.ceil() as i32).clamp(y0 + 1, height);
        let roi = Roi { x0, y0, w: x1 - x0, h: y1 - y0 };
        let mut fields = Vec::with_capacity(BASIS_COUNT);
        let mut boxes = Vec::with_capacity(BASIS_COUNT);
        for cs in &comps {
            let mut f = vec![[0.0f32; 2]; roi.len()];
            let mut peak = 0.0f32;
            for j in 0..roi.h {
                let y = (roi.y0 + j) as f32;
                for i in 0..roi.w {
                    let x = (roi.x0 + i) as f32;
                    let (mut dx, mut dy) = (0.0f32, 0.0f32);
                    for c in cs {
                        let d2 = (x - c.centre[0]).powi(2) + (y - c.centre[1]).powi(2);
                        let g = c.weight * (-d2 / (2.0 * c.sigma * c.sigma)).exp();
                        dx += g * c.dir[0];
                        dy += g * c.dir[1];
                    }
                    f[(j * roi.w + i) as usize] = [dx, dy];
                    peak = peak.max((dx * dx + dy * dy).sqrt());
                }
            }
            if peak > 0.0 {
                for v in &mut f {
                    v[0] /= peak;
                    v[1] /= peak;
                }
            }
            let mut bx = [roi.w, roi.h, 0, 0];
            for j in 0..roi.h {
                for i in 0..roi.w {
                    let v = f[(j * roi.w + i) as usize];
                    if v[0] * v[0] + v[1] * v[1] > 1e-8 {
                        bx = [bx[0].min(i), bx[1].min(j), bx[2].max(i + 1), bx[3].max(j + 1)];
                    }
                }
            }
            if bx[0] >= bx[2] {
                bx = [0, 0, 0, 0];
            }
            fields.push(f);
            boxes.push(bx);
        }
        Bases { roi, fields, boxes }
    }
}

/// Bilinear sample of a field stored on `roi` at neutral-frame point (x, y); zero outside.
#[inline]
pub fn sample(field: &[[f32; 2]], roi: &Roi, x: f32, y: f32) -> [f32; 2] {
    let fx = x - roi.x0 as f32;
    let fy = y - roi.y0 as f32;
    if !(fx >= 0.0 && fy >= 0.0 && fx < (roi.w - 1) as f32 && fy < (roi.h - 1) as f32) {
        return [0.0, 0.0];
    }
    let ix = fx as usize;
    let iy = fy as usize;
    let ax = fx - ix as f32;
    let ay = fy - iy as f32;
    let w = roi.w as usize;
    let i00 = iy * w + ix;
    let a = field[i00];
    let b = field[i00 + 1];
    let c = field[i00 + w];
    let d = field[i00 + w + 1];
    let top = [a[0] + (b[0] - a[0]) * ax, a[1] + (b[1] - a[1]) * ax];
    let bot = [c[0] + (d[0] - c[0]) * ax, c[1] + (d[1] - c[1]) * ax];
    [top[0] + (bot[0] - top[0]) * ay, top[1] + (bot[1] - top[1]) * ay]
}

/// Eyelid geometry of one eye for blinks, in neutral frame pixels.
#[derive(Debug, Clone, Copy)]
pub struct Eye {
    /// Upper lid polyline, x increasing (corner, two lid points, corner).
    pub upper: [[f32; 2]; 4],
    /// Lower lid polyline, x increasing.
    pub lower: [[f32; 2]; 4],
    /// Height of the lid skin above the upper lid that stretches down when the eye closes.
    pub hlid: f32,
    /// Bounding box (x0, x1, y0, y1) of the affected area.
    pub bbox: [f32; 4],
    /// Landmark indices of the two upper-lid points (they move down in a blink).
    pub upper_idx: [usize; 2],
}

impl Eye {
    /// `left`: subject's left eye (landmarks 42-47) else subject's right eye (36-41).
    pub fn new(lm: &[[f32; 2]; 68], left: bool) -> Eye {
        let (c0, u0, u1, c1, l1, l0) = if left { (42, 43, 44, 45, 46, 47) } else { (36, 37, 38, 39, 40, 41) };
        let upper = [lm[c0], lm[u0], lm[u1], lm[c1]];
        let lower = [lm[c0], lm[l0], lm[l1], lm[c1]];
        let width = (lm[c1][0] - lm[c0][0]).abs();
        let hlid = 0.32 * width;
        let ymin = upper.iter().map(|p| p[1]).fold(f32::MAX, f32::min) - hlid;
        let ymax = lower.iter().map(|p| p[1]).fold(f32::MIN, f32::max);
        Eye { upper, lower, hlid, bbox: [lm[c0][0].min(lm[c1][0]), lm[c0][0].max(lm[c1][0]), ymin, ymax], upper_idx: [u0, u1] }
    }

    fn interp(curve: &[[f32; 2]; 4], x: f32) -> f32 {
        if x <= curve[0][0] {
            return curve[0][1];
        }
        for s in 0..3 {
            let (a, b) = (curve[s], curve[s + 1]);
            if x <= b[0] {
                let t = if b[0] > a[0] { (x - a[0]) / (b[0] - a[0]) } else { 0.0 };
                return a[1] + t * (b[1] - a[1]);
            }
        }
        curve[3][1]
    }

    pub fn upper_at(&self, x: f32) -> f32 {
        Eye::interp(&self.upper, x)
    }

    pub fn lower_at(&self, x: f32) -> f32 {
        Eye::interp(&self.lower, x)
    }

    /// Backward map of a blink with closure `c` in [0, 1]: the upper lid edge slides down to
    /// `yu + c (yl - yu)`, the lid skin above it is stretched over the covered eye, the part
    /// of the eye still open is unchanged. Returns the neutral-frame point to sample.
    #[inline]
    pub fn backward(&self, c: f32, q: [f32; 2]) -> [f32; 2] {
        let [x, y] = q;
        if x <= self.bbox[0] || x >= self.bbox[1] || y < self.bbox[2] || y > self.bbox[3] {
            return q;
        }
        let yu = self.upper_at(x);
        let yl = self.lower_at(x);
        let ytop = yu - self.hlid;
        if y < ytop || y > yl {
            return q;
        }
        let yu2 = yu + c * (yl - yu);
        if y <= yu2 {
            let ys = ytop + (y - ytop) * (yu - ytop) / (yu2 - ytop).max(1e-3);
            [x, ys]
        } else {
            q
        }
    }

    /// Forward motion of a landmark in a blink (only the upper-lid points move).
    pub fn forward_landmark(&self, c: f32, idx: usize, p: [f32; 2]) -> [f32; 2] {
        if self.upper_idx.contains(&idx) {
            let yl = self.lower_at(p[0]);
            [p[0], p[1] + c * (yl - p[1])]
        } else {
            p
        }
    }
}
