//! The VP8 payload descriptor's temporal-layer fields (RFC 7741 §4.2),
//! read without touching the payload: enough to forward only some temporal
//! layers of a stream.

/// What the descriptor says of a packet's temporal layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vp8Temporal {
    /// TID: 0 is the base layer.
    pub tid: u8,
    /// The packet starts a frame (S set, partition 0): where forwarding may
    /// leave a layer out without cutting a frame short.
    pub frame_start: bool,
}

/// The temporal fields of a VP8 payload, or None when it carries none (no
/// T bit, or too short to say).
pub fn vp8_temporal(payload: &[u8]) -> Option<Vp8Temporal> {
    let first = *payload.first()?;
    if first & 0x80 == 0 {
        return None; // no extension byte: no temporal information
    }
    let ext = *payload.get(1)?;
    let (has_picture_id, has_tl0, has_tid) = (ext & 0x80 != 0, ext & 0x40 != 0, ext & 0x20 != 0);
    if !has_tid {
        return None;
    }
    let mut at = 2;
    if has_picture_id {
        // M bit: a 15-bit PictureID takes two bytes.
        at += if *payload.get(at)? & 0x80 != 0 { 2 } else { 1 };
    }
    if has_tl0 {
        at += 1;
    }
    let byte = *payload.get(at)?;
    Some(Vp8Temporal {
        tid: byte >> 6,
        frame_start: first & 0x10 != 0 && first & 0x07 == 0,
    })
}

/// A VP8 descriptor with a 15-bit PictureID, TL0PICIDX, TID and the
/// layer-sync (Y) bit (for tests and synthetic producers), then `body`.
pub fn vp8_payload_with_tid(picture_id: u16, tid: u8, layer_sync: bool, body: &[u8]) -> Vec<u8> {
    let mut p = vec![
        0x90,
        0xe0,
        0x80 | ((picture_id >> 8) as u8 & 0x7f),
        picture_id as u8,
        0,
        (tid << 6) | if layer_sync { 0x20 } else { 0 },
    ];
    p.extend_from_slice(body);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporal_fields_are_read_after_the_optional_ones() {
        let p = vp8_payload_with_tid(300, 2, true, b"x");
        assert_eq!(
            vp8_temporal(&p),
            Some(Vp8Temporal {
                tid: 2,
                frame_start: true,
            })
        );
        // 7-bit PictureID, no TL0PICIDX, a continuation packet (S clear).
        assert_eq!(
            vp8_temporal(&[0x80, 0xa0, 0x05, 0x40]),
            Some(Vp8Temporal {
                tid: 1,
                frame_start: false,
            })
        );
        // No T bit, no extension, truncated: nothing to say.
        assert_eq!(vp8_temporal(&[0x90, 0x80, 0x80, 0x01]), None);
        assert_eq!(vp8_temporal(&[0x10, 0x00]), None);
        assert_eq!(vp8_temporal(&[0x90, 0xe0, 0x80]), None);
        assert_eq!(vp8_temporal(&[]), None);
    }
}
