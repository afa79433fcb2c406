//! The VP9 payload descriptor's layer fields (RFC 9628 §4.2), read without
//! touching the payload: enough to forward only some spatial and temporal
//! layers of an SVC stream.

/// What the descriptor says of a packet's layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vp9Layers {
    /// TID: 0 is the base temporal layer.
    pub tid: u8,
    /// SID: 0 is the base (lowest resolution) spatial layer.
    pub sid: u8,
    /// B: the packet starts a layer frame.
    pub frame_start: bool,
    /// E: the packet ends a layer frame; on the highest spatial layer
    /// forwarded, it ends the picture the receiver sees.
    pub frame_end: bool,
    /// P: the frame refers to earlier pictures. A frame without it needs
    /// only the lower layers of its own picture.
    pub inter_picture: bool,
}

impl Vp9Layers {
    /// The packet starts a picture (its base spatial layer's frame): where
    /// forwarding may change layers without cutting a picture short.
    pub fn picture_start(&self) -> bool {
        self.frame_start && self.sid == 0
    }
}

/// The layer fields of a VP9 payload, or None when it carries none (no L
/// bit: a stream of one layer), or is too short to say.
pub fn vp9_layers(payload: &[u8]) -> Option<Vp9Layers> {
    let first = *payload.first()?;
    let (has_picture_id, has_layers) = (first & 0x80 != 0, first & 0x20 != 0);
    if !has_layers {
        return None;
    }
    let mut at = 1;
    if has_picture_id {
        // M bit: a 15-bit PictureID takes two bytes.
        at += if *payload.get(at)? & 0x80 != 0 { 2 } else { 1 };
    }
    let byte = *payload.get(at)?;
    Some(Vp9Layers {
        tid: byte >> 5,
        sid: (byte >> 1) & 0x07,
        frame_start: first & 0x08 != 0,
        frame_end: first & 0x04 != 0,
        inter_picture: first & 0x40 != 0,
    })
}

/// The first packet of a keyframe picture: not inter-picture predicted (P
/// clear), starting a frame (B) of the base spatial layer. A P-clear packet
/// further into the picture (its rest, or an upper layer's frame) is no
/// place to start decoding from.
pub fn vp9_keyframe_start(payload: &[u8]) -> bool {
    let Some(&first) = payload.first() else {
        return false;
    };
    let base_layer = match vp9_layers(payload) {
        Some(l) => l.sid == 0,
        // No L bit: a stream of one layer. With it, a descriptor too short
        // to give the layer is no keyframe (a switch or a cancelled
        // keyframe request would follow from it).
        None => first & 0x20 == 0,
    };
    first & 0x40 == 0 && first & 0x08 != 0 && base_layer
}

/// A non-flexible VP9 descriptor (15-bit PictureID, layer indices,
/// TL0PICIDX) for one packet of a layer frame, then `body`: for tests and
/// synthetic producers. `keyframe` clears P (not inter-picture predicted).
pub fn vp9_payload(
    picture_id: u16,
    (sid, tid): (u8, u8),
    (start, end): (bool, bool),
    keyframe: bool,
    body: &[u8],
) -> Vec<u8> {
    let mut first = 0x80 | 0x20; // I, L
    if !keyframe {
        first |= 0x40; // P
    }
    if start {
        first |= 0x08;
    }
    if end {
        first |= 0x04;
    }
    // D: upper spatial layers depend on the one below (within a picture).
    let d = u8::from(sid > 0);
    let mut p = vec![
        first,
        0x80 | ((picture_id >> 8) as u8 & 0x7f),
        picture_id as u8,
        (tid << 5) | (sid << 1) | d,
        0,
    ];
    p.extend_from_slice(body);
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::{VideoCodec, is_keyframe};

    #[test]
    fn layer_fields_are_read_after_the_picture_id() {
        let p = vp9_payload(300, (2, 1), (true, false), false, b"x");
        assert_eq!(
            vp9_layers(&p),
            Some(Vp9Layers {
                tid: 1,
                sid: 2,
                frame_start: true,
                frame_end: false,
                inter_picture: true,
            })
        );
        // 7-bit PictureID, the end of a base-layer frame.
        let short = [0xa4, 0x05, 0x40, 0x00];
        let l = vp9_layers(&short).unwrap();
        assert_eq!(
            (l.tid, l.sid, l.frame_start, l.frame_end),
            (2, 0, false, true)
        );
        // No L bit, truncated: nothing to say.
        assert_eq!(vp9_layers(&[0x88, 0x80]), None);
        assert_eq!(vp9_layers(&[0xa8, 0x80, 0x01]), None);
        assert_eq!(vp9_layers(&[]), None);
    }

    #[test]
    fn a_picture_starts_at_its_base_layer_and_keyframes_are_recognised() {
        let key = vp9_payload(1, (0, 0), (true, false), true, &[0; 8]);
        assert!(vp9_layers(&key).unwrap().picture_start());
        assert!(is_keyframe(VideoCodec::Vp9, &key));
        let upper = vp9_payload(1, (1, 0), (true, true), true, &[0; 8]);
        assert!(!vp9_layers(&upper).unwrap().picture_start());
        let delta = vp9_payload(2, (0, 0), (true, true), false, &[0; 8]);
        assert!(!is_keyframe(VideoCodec::Vp9, &delta));
        // The rest of the keyframe, and its upper layer: no place to start.
        let rest = vp9_payload(1, (0, 0), (false, true), true, &[0; 8]);
        assert!(!is_keyframe(VideoCodec::Vp9, &rest));
        assert!(!is_keyframe(VideoCodec::Vp9, &upper));
        // A single-layer stream (no L bit) starts where P is clear and B set.
        assert!(is_keyframe(VideoCodec::Vp9, &[0x88, 0x00]));
        // With the L bit but cut before its layer byte: no keyframe.
        assert!(!is_keyframe(VideoCodec::Vp9, &[0xa8, 0x80, 0x01]));
        assert!(!is_keyframe(VideoCodec::Vp9, &[0x28]));
    }
}
