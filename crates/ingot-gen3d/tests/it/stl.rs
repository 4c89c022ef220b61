//! Binary STL layout: header, count matching the size, unit normals.

use crate::common::{gen_ok, png, test_image, text, with_image};
use ingot_gen3d::{Gen3dParams, OutputFormat};

fn check_stl(p: &Gen3dParams) {
    let asset = gen_ok(p);
    let b = &asset.bytes;
    assert!(b.len() >= 84);
    assert!(
        !b.starts_with(b"solid"),
        "binary STL must not look like ASCII"
    );
    let count = u32::from_le_bytes(b[80..84].try_into().unwrap()) as usize;
    assert_eq!(b.len(), 84 + 50 * count);
    assert_eq!(count, asset.triangle_count);
    let f = |o: usize| f32::from_le_bytes(b[o..o + 4].try_into().unwrap());
    for t in 0..count {
        let o = 84 + 50 * t;
        let n = [f(o), f(o + 4), f(o + 8)];
        let len = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
        assert!((len - 1.0).abs() < 1e-3, "triangle {t} normal length {len}");
        for k in 0..9 {
            let c = f(o + 12 + 4 * k);
            assert!(
                c.is_finite() && c.abs() <= 0.5 + 1e-4,
                "vertex coordinate {c} out of the 1 m box"
            );
        }
    }
}

#[test]
fn stl_outputs_parse() {
    check_stl(&Gen3dParams {
        format: OutputFormat::Stl,
        ..text("a wooden chair", 1, 10)
    });
    check_stl(&Gen3dParams {
        format: OutputFormat::Stl,
        no_texture: true,
        ..text("a rocket", 1, 30)
    });
    check_stl(&Gen3dParams {
        format: OutputFormat::Stl,
        ..with_image(png(&test_image(80, 60)), 1, 10)
    });
}
