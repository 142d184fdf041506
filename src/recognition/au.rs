//! An action-unit guess from which face regions moved, and which way, between onset and apex.
//!
//! Written in the datasets' notation (`1+2`, `4`, `9`, `12`, `14`, `15`, `17`, joined by `+` in
//! ascending order, `L`/`R` for a one-sided movement on the subject's left or right). A region
//! vote is made only when the region moved clearly (at least `share` of the largest movement
//! and above `min_px`). Directions are in crop pixels with +v down; the subject's right side is
//! on the image's left, so "outwards" is -u for the right-side regions.

use crate::motion::{Region, RegionSignals};

/// A region counts when its mean movement is at least this share of the largest one.
const SHARE: f32 = 0.35;
/// One side counts as alone when it moved this many times more than the other.
const ONE_SIDED: f32 = 2.5;

/// A guess such as `1+2`, `R12` or `4+9`; empty when nothing moved clearly.
pub fn guess_aus(regions: &RegionSignals, min_px: f32) -> String {
    let vector = |r: Region| {
        let m = regions.get(r);
        [m.mean_u, m.mean_v]
    };
    let length = |v: [f32; 2]| v[0].hypot(v[1]);
    let largest = [Region::BrowR, Region::BrowL, Region::Nose, Region::MouthR, Region::MouthL, Region::Chin]
        .iter()
        .map(|&r| length(vector(r)))
        .fold(0.0, f32::max);
    let counts = |v: [f32; 2]| length(v) >= (SHARE * largest).max(min_px);

    // (AU, side) votes; side None = bilateral by construction.
    let mut votes: Vec<(u32, Option<char>)> = Vec::new();
    let paired = |au: u32, right: Option<[f32; 2]>, left: Option<[f32; 2]>| -> Option<(u32, Option<char>)> {
        let (r, l) = (right.map_or(0.0, length), left.map_or(0.0, length));
        if r == 0.0 && l == 0.0 {
            return None;
        }
        let side = if r > ONE_SIDED * l {
            Some('R')
        } else if l > ONE_SIDED * r {
            Some('L')
        } else {
            None
        };
        Some((au, side))
    };

    // Brows: up = 1+2; down or inwards = 4. Inwards is +u for the right brow, -u for the left.
    let (brow_r, brow_l) = (vector(Region::BrowR), vector(Region::BrowL));
    let brow_up = |v: [f32; 2]| counts(v) && v[1] < 0.0 && v[1].abs() >= v[0].abs() * 0.5;
    let brow_down_in = |v: [f32; 2], inward: f32| {
        counts(v) && (v[1] >= 0.5 * length(v) || v[0] * inward >= 0.5 * length(v)) && v[1] > -0.3 * length(v)
    };
    votes.extend(paired(1, brow_up(brow_r).then_some(brow_r), brow_up(brow_l).then_some(brow_l)));
    votes.extend(paired(4, brow_down_in(brow_r, 1.0).then_some(brow_r), brow_down_in(brow_l, -1.0).then_some(brow_l)));

    // Nose wrinkler: the nose region moves up.
    let nose = vector(Region::Nose);
    if counts(nose) && nose[1] < 0.0 {
        votes.push((9, None));
    }

    // Mouth corners: up = 12; down = 15; sideways (outwards, little vertical) = 14.
    let (mouth_r, mouth_l) = (vector(Region::MouthR), vector(Region::MouthL));
    let corner = |v: [f32; 2], outward: f32| -> Option<u32> {
        if !counts(v) {
            return None;
        }
        if v[1] < 0.0 && v[1].abs() >= 0.5 * v[0].abs() {
            Some(12)
        } else if v[1] > 0.0 && v[1].abs() >= 0.5 * v[0].abs() {
            Some(15)
        } else if v[0] * outward > 0.0 {
            Some(14)
        } else {
            None
        }
    };
    let (cr, cl) = (corner(mouth_r, -1.0), corner(mouth_l, 1.0));
    for au in [12, 14, 15] {
        votes.extend(paired(au, (cr == Some(au)).then_some(mouth_r), (cl == Some(au)).then_some(mouth_l)));
    }

    // Chin raiser: the chin moves up without the mouth corners explaining it.
    let chin = vector(Region::Chin);
    if counts(chin) && chin[1] < 0.0 && cr.is_none() && cl.is_none() {
        votes.push((17, None));
    }

    votes.sort_by_key(|(au, _)| *au);
    // Brow raise is written 1+2 (the two cannot be told apart with one region per brow).
    let mut parts: Vec<String> = Vec::new();
    for (au, side) in votes {
        let name = if au == 1 { "1+2".to_string() } else { au.to_string() };
        parts.push(match side {
            Some(s) => format!("{s}{name}"),
            None => name,
        });
    }
    parts.join("+")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::motion::RegionMotion;

    fn signals(moves: &[(Region, f32, f32)]) -> RegionSignals {
        let mut s = RegionSignals::default();
        for &(r, u, v) in moves {
            s.values[r as usize] = RegionMotion { magnitude: u.hypot(v), mean_u: u, mean_v: v };
        }
        s
    }

    #[test]
    fn brow_raise_is_1_plus_2() {
        assert_eq!(guess_aus(&signals(&[(Region::BrowR, 0.0, -0.8), (Region::BrowL, 0.05, -0.7)]), 0.05), "1+2");
    }

    #[test]
    fn brows_in_and_nose_up_is_4_plus_9() {
        let s = signals(&[(Region::BrowR, 0.4, 0.2), (Region::BrowL, -0.4, 0.2), (Region::Nose, 0.0, -0.5)]);
        assert_eq!(guess_aus(&s, 0.05), "4+9");
    }

    #[test]
    fn one_sided_smile_names_the_side() {
        // Subject's right mouth corner up and outwards (-u); the left hardly moves.
        let s = signals(&[(Region::MouthR, -0.3, -0.5), (Region::MouthL, 0.02, -0.03)]);
        assert_eq!(guess_aus(&s, 0.05), "R12");
        let both = signals(&[(Region::MouthR, -0.3, -0.5), (Region::MouthL, 0.3, -0.45)]);
        assert_eq!(guess_aus(&both, 0.05), "12");
    }

    #[test]
    fn corners_down_is_15_and_sideways_is_14() {
        assert_eq!(guess_aus(&signals(&[(Region::MouthR, 0.0, 0.4), (Region::MouthL, 0.0, 0.4)]), 0.05), "15");
        assert_eq!(guess_aus(&signals(&[(Region::MouthR, -0.4, 0.05), (Region::MouthL, 0.4, 0.0)]), 0.05), "14");
    }

    #[test]
    fn nothing_clear_gives_nothing() {
        assert_eq!(guess_aus(&signals(&[(Region::Nose, 0.01, 0.01)]), 0.05), "");
    }
}
