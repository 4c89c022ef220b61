//! Image → 3D relief: all four codecs, segmentation, watertightness, texture.

use crate::common::{assert_watertight, encode, gen_ok, png, read_glb, test_image, with_image};
use ingot_gen3d::Gen3dParams;

#[test]
fn relief_is_watertight_and_textured() {
    let asset = gen_ok(&with_image(png(&test_image(160, 120)), 3, 20));
    assert!(
        asset.description.contains("border colour"),
        "{}",
        asset.description
    );
    let (doc, prims) = read_glb(&asset.bytes);
    assert_eq!(prims.len(), 1);
    let relief = &prims[0];
    assert!(relief.textured && relief.uvs.is_some());
    assert_watertight(&relief.positions, &relief.indices);
    assert_eq!(doc.images().count(), 1);
    // +Y up, front towards +Z, flat back: the back plane holds many vertices.
    let zmin = relief
        .positions
        .iter()
        .map(|p| p[2])
        .fold(f32::MAX, f32::min);
    let on_back = relief
        .positions
        .iter()
        .filter(|p| (p[2] - zmin).abs() < 1e-6)
        .count();
    assert!(on_back > relief.positions.len() / 4);
    // The stray speck (top-left) was dropped: the shape is wider than tall
    // (disc + bar) and the speck would have stretched the bounds.
    let xs = relief.positions.iter().map(|p| p[0]);
    let (lo, hi) = xs.fold((f32::MAX, f32::MIN), |(l, h), x| (l.min(x), h.max(x)));
    assert!((hi - lo - 1.0).abs() < 1e-4);
}

#[test]
fn all_codecs_decode() {
    let img = test_image(64, 48);
    for format in [
        image::ImageFormat::Png,
        image::ImageFormat::Jpeg,
        image::ImageFormat::WebP,
        image::ImageFormat::Gif,
    ] {
        let asset = gen_ok(&with_image(encode(&img, format), 1, 10));
        let (_, prims) = read_glb(&asset.bytes);
        assert_watertight(&prims[0].positions, &prims[0].indices);
    }
}

#[test]
fn alpha_cutout_and_untextured() {
    let mut img = image::RgbaImage::from_pixel(64, 64, image::Rgba([0, 0, 0, 0]));
    for y in 0..64u32 {
        for x in 0..64u32 {
            // A star-ish cross with a hole in the middle.
            let (dx, dy) = (x.abs_diff(32), y.abs_diff(32));
            if (dx < 8 || dy < 8) && dx.max(dy) < 28 && !(dx < 3 && dy < 3) {
                img.put_pixel(x, y, image::Rgba([30, 90, 200, 255]));
            }
        }
    }
    let p = Gen3dParams {
        no_texture: true,
        ..with_image(png(&img), 1, 30)
    };
    let asset = gen_ok(&p);
    assert!(asset.description.contains("alpha"), "{}", asset.description);
    let (doc, prims) = read_glb(&asset.bytes);
    assert_eq!(doc.images().count(), 0);
    assert!(prims[0].uvs.is_none());
    assert_watertight(&prims[0].positions, &prims[0].indices);
    let c = doc
        .materials()
        .next()
        .unwrap()
        .pbr_metallic_roughness()
        .base_color_factor();
    assert!(
        c[2] > c[0] && c[2] > c[1],
        "average colour should be blue: {c:?}"
    );
}

#[test]
fn photo_without_clear_background_becomes_a_plaque() {
    let img = image::RgbaImage::from_fn(50, 40, |x, y| {
        image::Rgba([(x * 5) as u8, (y * 6) as u8, 128, 255])
    });
    let asset = gen_ok(&with_image(png(&img), 1, 10));
    assert!(
        asset.description.contains("whole image"),
        "{}",
        asset.description
    );
    let (_, prims) = read_glb(&asset.bytes);
    assert_watertight(&prims[0].positions, &prims[0].indices);
}

#[test]
fn image_wins_over_prompt_and_steps_refine_the_grid() {
    let bytes = png(&test_image(200, 150));
    let low = gen_ok(&Gen3dParams {
        prompt: Some("a chair".into()),
        ..with_image(bytes.clone(), 1, 10)
    });
    let high = gen_ok(&with_image(bytes, 1, 50));
    assert_eq!(low.parts, vec!["relief".to_string()]);
    assert!(high.triangle_count > low.triangle_count * 2);
}
