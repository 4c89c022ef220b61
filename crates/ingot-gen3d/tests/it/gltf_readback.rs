//! Every output parses with the `gltf` crate and reads back consistent data.

use crate::common::{gen_ok, read_glb, text};
use ingot_gen3d::Gen3dParams;

const PROMPTS: &[&str] = &[
    "a wooden chair",
    "a red car",
    "a small stone golem",
    "a glass vase",
    "a golden sword",
    "a white rocket with blue fins",
    "a snowman",
    "a cozy brick house",
    "a tall pine tree",
    "a floor lamp",
    "a coffee mug",
    "a castle tower",
    "a robot",
    "an oak desk",
    "a red mushroom",
    "a pickup truck",
    "the concept of time",
];

fn check(p: &Gen3dParams) {
    let asset = gen_ok(p);
    let (doc, prims) = read_glb(&asset.bytes);
    assert_eq!(doc.meshes().count(), asset.parts.len());
    let mut tris = 0;
    let mut lo = [f32::MAX; 3];
    let mut hi = [f32::MIN; 3];
    for prim in &prims {
        let n = prim.positions.len();
        assert_eq!(prim.normals.len(), n, "{}", prim.name);
        assert_eq!(prim.indices.len() % 3, 0);
        assert!(
            prim.indices.iter().all(|&i| (i as usize) < n),
            "index out of range in {}",
            prim.name
        );
        for nrm in &prim.normals {
            let len = (nrm[0] * nrm[0] + nrm[1] * nrm[1] + nrm[2] * nrm[2]).sqrt();
            assert!((len - 1.0).abs() < 1e-3, "normal not unit in {}", prim.name);
        }
        assert_eq!(
            prim.uvs.is_some(),
            prim.textured,
            "TEXCOORD_0 iff textured ({})",
            prim.name
        );
        assert_eq!(prim.textured, !p.no_texture && prim.textured);
        for q in &prim.positions {
            for k in 0..3 {
                lo[k] = lo[k].min(q[k]);
                hi[k] = hi[k].max(q[k]);
            }
        }
        tris += prim.indices.len() / 3;
    }
    assert_eq!(tris, asset.triangle_count);
    // Normalised: centred, largest extent 1 m.
    let ext = (0..3).map(|k| hi[k] - lo[k]).fold(0.0f32, f32::max);
    assert!((ext - 1.0).abs() < 1e-4, "extent {ext}");
    for k in 0..3 {
        assert!((hi[k] + lo[k]).abs() < 1e-4, "not centred on axis {k}");
    }
    // POSITION accessors carry exact min/max.
    for mesh in doc.meshes() {
        for prim in mesh.primitives() {
            let b = prim.bounding_box();
            assert!(b.min.iter().zip(b.max.iter()).all(|(a, b)| a <= b));
        }
    }
    // Embedded images decode as PNG.
    let blob = doc.blob.as_ref().unwrap();
    for img in doc.images() {
        match img.source() {
            gltf::image::Source::View { view, mime_type } => {
                assert_eq!(mime_type, "image/png");
                let bytes = &blob[view.offset()..view.offset() + view.length()];
                image::load_from_memory_with_format(bytes, image::ImageFormat::Png).unwrap();
            }
            gltf::image::Source::Uri { .. } => panic!("external image"),
        }
    }
    if p.no_texture {
        assert_eq!(doc.images().count(), 0);
    }
}

#[test]
fn text_prompts_read_back() {
    for prompt in PROMPTS {
        check(&text(prompt, 11, 10));
    }
}

#[test]
fn untextured_and_detailed_read_back() {
    for prompt in ["a wooden chair", "a red car", "a snowman"] {
        check(&Gen3dParams {
            no_texture: true,
            ..text(prompt, 3, 10)
        });
        check(&text(prompt, 3, 50));
    }
}

#[test]
fn steps_increase_detail() {
    let low = gen_ok(&text("a snowman", 9, 10));
    let high = gen_ok(&text("a snowman", 9, 50));
    assert!(
        high.triangle_count > low.triangle_count * 2,
        "{} vs {}",
        high.triangle_count,
        low.triangle_count
    );
}

#[test]
fn prompt_words_change_the_object() {
    let chair = gen_ok(&text("a chair", 1, 10));
    let car = gen_ok(&text("a car", 1, 10));
    assert!(
        chair.parts.iter().any(|p| p == "backrest"),
        "{:?}",
        chair.parts
    );
    assert!(car.parts.iter().filter(|p| p.starts_with("wheel_")).count() == 4);
    let red = gen_ok(&Gen3dParams {
        no_texture: true,
        ..text("a red chair", 1, 10)
    });
    let (doc, _) = read_glb(&red.bytes);
    let frame = doc.materials().find(|m| m.name() == Some("frame")).unwrap();
    let c = frame.pbr_metallic_roughness().base_color_factor();
    assert!(
        c[0] > 0.5 && c[1] < 0.1 && c[2] < 0.1,
        "red chair frame colour {c:?}"
    );
    let gold = gen_ok(&text("a golden sword", 1, 10));
    let (doc, _) = read_glb(&gold.bytes);
    let blade = doc.materials().find(|m| m.name() == Some("blade")).unwrap();
    assert_eq!(blade.pbr_metallic_roughness().metallic_factor(), 1.0);
}
