//! Reads binary STL (as [`crate::stl`] writes it) and ASCII STL. Normals are
//! recomputed from the vertices: the stored ones are often zero.

use super::{MAX_TRIANGLES, Model, NEUTRAL, PreviewError, Triangle, face_normal};

/// Header and triangle count, then 50 bytes per triangle.
const HEADER: usize = 84;
const RECORD: usize = 50;

pub(super) fn load(bytes: &[u8]) -> Result<Model, PreviewError> {
    let corners = match binary_count(bytes) {
        Some(count) => binary(bytes, count)?,
        None if bytes.trim_ascii_start().starts_with(b"solid") => ascii(bytes)?,
        None => {
            return Err(PreviewError::InvalidStl(format!(
                "{} bytes are neither a binary STL (84-byte header, 50 bytes per triangle) \
                 nor an ASCII one (`solid ...`)",
                bytes.len()
            )));
        }
    };
    let triangles: Vec<Triangle> = corners
        .chunks_exact(3)
        .map(|c| {
            let p = [c[0], c[1], c[2]];
            Triangle {
                p,
                n: [face_normal(&p); 3],
                uv: [[0.0; 2]; 3],
                material: 0,
            }
        })
        .collect();
    if triangles.is_empty() {
        return Err(PreviewError::Empty);
    }
    Ok(Model {
        triangles,
        materials: vec![NEUTRAL],
    })
}

/// The triangle count when `bytes` has exactly the size a binary STL with
/// the count in its header has.
fn binary_count(bytes: &[u8]) -> Option<usize> {
    let count = u32::from_le_bytes(bytes.get(80..HEADER)?.try_into().ok()?) as usize;
    let size = count.checked_mul(RECORD)?.checked_add(HEADER)?;
    (size == bytes.len()).then_some(count)
}

fn binary(bytes: &[u8], count: usize) -> Result<Vec<[f32; 3]>, PreviewError> {
    too_many(count)?;
    let mut out = Vec::with_capacity(count * 3);
    for record in bytes.get(HEADER..).unwrap_or_default().chunks_exact(RECORD) {
        // Skip the stored normal (12 bytes); read the three corners.
        for corner in record.get(12..48).unwrap_or_default().chunks_exact(12) {
            let f = |k: usize| {
                corner
                    .get(4 * k..4 * k + 4)
                    .and_then(|b| b.try_into().ok())
                    .map_or(f32::NAN, f32::from_le_bytes)
            };
            out.push([f(0), f(1), f(2)]);
        }
    }
    Ok(out)
}

fn ascii(bytes: &[u8]) -> Result<Vec<[f32; 3]>, PreviewError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| PreviewError::InvalidStl("an ASCII STL that is not UTF-8".into()))?;
    let mut out = Vec::new();
    let mut words = text.split_ascii_whitespace();
    while let Some(word) = words.next() {
        if !word.eq_ignore_ascii_case("vertex") {
            continue;
        }
        let mut coord = || -> Result<f32, PreviewError> {
            words
                .next()
                .and_then(|w| w.parse().ok())
                .ok_or_else(|| PreviewError::InvalidStl("a vertex without three numbers".into()))
        };
        out.push([coord()?, coord()?, coord()?]);
        too_many(out.len() / 3)?;
    }
    if !out.len().is_multiple_of(3) {
        return Err(PreviewError::InvalidStl(
            "a vertex count that is not a multiple of 3".into(),
        ));
    }
    Ok(out)
}

fn too_many(triangles: usize) -> Result<(), PreviewError> {
    if triangles > MAX_TRIANGLES {
        Err(PreviewError::TooLarge(format!(
            "more than {MAX_TRIANGLES} triangles"
        )))
    } else {
        Ok(())
    }
}
