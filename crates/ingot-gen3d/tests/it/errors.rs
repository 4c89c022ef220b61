//! Bad inputs give typed errors.

use crate::common::{text, with_image};
use ingot_gen3d::{Gen3dError, Gen3dParams, MAX_IMAGE_PIXELS, generate};

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A PNG whose header claims `w × h` pixels but carries almost no data
/// (a decompression-bomb shape).
fn png_header_only(w: u32, h: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = b"IHDR".to_vec();
    chunk.extend_from_slice(&w.to_be_bytes());
    chunk.extend_from_slice(&h.to_be_bytes());
    chunk.extend_from_slice(&[8, 6, 0, 0, 0]);
    out.extend_from_slice(&13u32.to_be_bytes());
    out.extend_from_slice(&chunk);
    out.extend_from_slice(&crc32(&chunk).to_be_bytes());
    // IDAT holding an empty zlib stream, then IEND.
    for (kind, data) in [
        (
            &b"IDAT"[..],
            &[0x78u8, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01][..],
        ),
        (b"IEND", &[]),
    ] {
        let mut chunk = kind.to_vec();
        chunk.extend_from_slice(data);
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(&chunk);
        out.extend_from_slice(&crc32(&chunk).to_be_bytes());
    }
    out
}

#[test]
fn garbage_image_is_a_decode_error() {
    let r = generate(&with_image(
        b"this is plain text, not an image".to_vec(),
        1,
        10,
    ));
    assert!(matches!(r, Err(Gen3dError::ImageDecode(_))), "{r:?}");
    let r = generate(&with_image(vec![0u8; 100], 1, 10));
    assert!(matches!(r, Err(Gen3dError::ImageDecode(_))), "{r:?}");
    // A valid header with truncated data.
    let r = generate(&with_image(png_header_only(10, 10), 1, 10));
    assert!(matches!(r, Err(Gen3dError::ImageDecode(_))), "{r:?}");
}

#[test]
fn oversized_image_is_rejected_before_decoding() {
    let r = generate(&with_image(png_header_only(50_000, 50_000), 1, 10));
    match r {
        Err(Gen3dError::ImageTooLarge { pixels, max }) => {
            assert_eq!(pixels, 2_500_000_000);
            assert_eq!(max, MAX_IMAGE_PIXELS);
        }
        other => panic!("expected ImageTooLarge, got {other:?}"),
    }
    let r = generate(&with_image(png_header_only(4097, 4096), 1, 10));
    assert!(matches!(r, Err(Gen3dError::ImageTooLarge { .. })), "{r:?}");
}

#[test]
fn empty_input() {
    let r = generate(&Gen3dParams {
        prompt: None,
        ..text("", 1, 10)
    });
    assert!(matches!(r, Err(Gen3dError::EmptyInput)));
    let r = generate(&Gen3dParams {
        prompt: Some(" \n\t".into()),
        ..text("", 1, 10)
    });
    assert!(matches!(r, Err(Gen3dError::EmptyInput)));
}
