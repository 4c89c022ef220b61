//! Household objects: chair/stool, table/desk, lamp, mug, vase.

use std::f32::consts::{FRAC_PI_2, PI, TAU};

use super::{rotate_about, smooth_profile};
use crate::material::Surface;
use crate::mesh::{Mat3, Mesh};
use crate::parts::{beam, cuboid, cylinder, frustum, lathe, pipe_arc, rod, sphere, torus};
use crate::text3d::Ctx;

const WOOD: [u8; 3] = [150, 100, 55];

/// Chair (seat, 4 legs, backrest in one of three styles, optional arms and
/// cushions) or stool (round seat, 3–4 splayed legs, footrest ring).
pub fn chair(ctx: &mut Ctx<'_>, stool: bool) -> String {
    let (tall, wide) = (ctx.info.tall, ctx.info.wide);
    let frame = ctx.primary("frame", Surface::Wood, WOOD);
    let upholstered = ctx
        .info
        .has(&["armchair", "sofa", "couch", "throne", "recliner", "cushion"])
        || ctx.info.surface == Some(Surface::Fabric);
    let leg = ctx.r(0.035, 0.055);
    let t = ctx.r(0.035, 0.055);
    if stool {
        let seat_h = ctx.r(0.6, 0.75) * tall;
        let r = ctx.r(0.17, 0.22) * wide;
        ctx.add(
            "seat",
            cylinder(r, t, ctx.segs).translate([0.0, seat_h - t, 0.0]),
            frame,
        );
        let n = 3 + ctx.rng.below(2);
        let splay = ctx.r(0.05, 0.12);
        let phase = ctx.r(0.0, TAU);
        for i in 0..n {
            let a = phase + TAU * i as f32 / n as f32;
            let (s, c) = a.sin_cos();
            let top = [s * r * 0.7, seat_h - t, c * r * 0.7];
            let bottom = [s * (r * 0.7 + splay), 0.0, c * (r * 0.7 + splay)];
            ctx.add(
                &format!("leg_{}", i + 1),
                rod(bottom, top, leg * 0.5, ctx.segs / 2),
                frame,
            );
        }
        let ring_h = seat_h * 0.33;
        let ring_r = r * 0.7 + splay * (1.0 - ring_h / (seat_h - t));
        ctx.add(
            "footrest",
            torus(ring_r, leg * 0.3, ctx.segs, 8).translate([0.0, ring_h, 0.0]),
            frame,
        );
        return format!("stool: round seat, {n} splayed legs, footrest ring");
    }
    let seat_h = ctx.r(0.42, 0.5) * tall.sqrt();
    let w = ctx.r(0.42, 0.55) * wide * if upholstered { 1.3 } else { 1.0 };
    let d = ctx.r(0.4, 0.5) * if upholstered { 1.2 } else { 1.0 };
    ctx.add(
        "seat",
        cuboid([w, t, d], [0.0, seat_h - t / 2.0, 0.0]),
        frame,
    );
    let (x, z) = (w / 2.0 - leg / 2.0, d / 2.0 - leg / 2.0);
    let splay = ctx.r(0.0, 0.03);
    for (i, (sx, sz)) in [(-1.0, 1.0), (1.0, 1.0), (-1.0, -1.0), (1.0, -1.0)]
        .into_iter()
        .enumerate()
    {
        let top = [sx * x, seat_h - t, sz * z];
        let bottom = [sx * (x + splay), 0.0, sz * (z + splay)];
        ctx.add(&format!("leg_{}", i + 1), beam(bottom, top, leg), frame);
    }
    // Backrest, built upright then leaned back around the rear edge of the seat.
    let back_h = ctx.r(0.38, 0.55) * tall;
    let lean = -ctx.r(0.05, 0.2);
    let pivot = [0.0, seat_h, -z];
    let style = ctx.rng.below(3);
    let mut back = Mesh::default();
    for sx in [-1.0, 1.0] {
        back.append(&cuboid(
            [leg, back_h, leg],
            [sx * x, seat_h + back_h / 2.0, -z],
        ));
    }
    let inner = 2.0 * x - leg;
    let style_name = match style {
        0 => {
            let ph = back_h * ctx.r(0.45, 0.7);
            back.append(&cuboid(
                [inner, ph, leg * 0.5],
                [0.0, seat_h + back_h - ph / 2.0, -z],
            ));
            "panel"
        }
        1 => {
            let n = 3 + ctx.rng.below(3);
            let rail = leg * 1.4;
            back.append(&cuboid(
                [inner, rail, leg * 0.8],
                [0.0, seat_h + back_h - rail / 2.0, -z],
            ));
            let slat_w = inner / (2 * n + 1) as f32;
            for i in 0..n {
                let cx = -inner / 2.0 + slat_w * (2 * i + 1) as f32 + slat_w / 2.0;
                let sh = back_h - rail;
                back.append(&cuboid(
                    [slat_w, sh, leg * 0.5],
                    [cx, seat_h + sh / 2.0, -z],
                ));
            }
            "vertical slats"
        }
        _ => {
            let n = 2 + ctx.rng.below(2);
            for i in 0..n {
                let y = seat_h + back_h * (1.0 - 0.28 * i as f32) - leg;
                back.append(&cuboid([inner, leg * 1.6, leg * 0.6], [0.0, y, -z]));
            }
            "horizontal rails"
        }
    };
    ctx.add(
        "backrest",
        rotate_about(back, &Mat3::rot_x(lean), pivot),
        frame,
    );
    let arms = ctx
        .info
        .has(&["armchair", "throne", "sofa", "couch", "recliner"])
        || ctx.rng.chance(0.2);
    if arms {
        let arm_h = ctx.r(0.2, 0.26);
        for (i, sx) in [-1.0f32, 1.0].into_iter().enumerate() {
            ctx.add(
                &format!("arm_post_{}", i + 1),
                cuboid([leg, arm_h, leg], [sx * x, seat_h + arm_h / 2.0, z]),
                frame,
            );
            ctx.add(
                &format!("armrest_{}", i + 1),
                cuboid(
                    [leg * 1.6, leg, d],
                    [sx * x, seat_h + arm_h + leg / 2.0, 0.0],
                ),
                frame,
            );
        }
    }
    if upholstered {
        let fabric = ctx.accent("cushion", Surface::Fabric, [150, 40, 45]);
        let ch = ctx.r(0.06, 0.1);
        ctx.add(
            "seat_cushion",
            cuboid([inner, ch, d * 0.92], [0.0, seat_h + ch / 2.0, 0.02]),
            fabric,
        );
        let back_cushion = cuboid(
            [inner, back_h * 0.8, ch],
            [0.0, seat_h + back_h * 0.5, -z + ch],
        );
        ctx.add(
            "back_cushion",
            rotate_about(back_cushion, &Mat3::rot_x(lean), pivot),
            fabric,
        );
    }
    format!(
        "chair: seat, 4 legs, backrest with {style_name}{}{}",
        if arms { ", armrests" } else { "" },
        if upholstered { ", cushions" } else { "" }
    )
}

/// Table or desk: rectangular top on 4 legs with aprons, or a round top on a
/// pedestal; desks get a drawer block.
pub fn table(ctx: &mut Ctx<'_>) -> String {
    let (tall, wide) = (ctx.info.tall, ctx.info.wide);
    let wood = ctx.primary("tabletop", Surface::Wood, WOOD);
    let h = ctx.r(0.72, 0.78) * tall;
    let t = ctx.r(0.03, 0.06);
    let desk = ctx.info.has(&["desk", "workbench"]);
    let round = !desk && (ctx.info.has(&["round", "circular"]) || ctx.rng.chance(0.3));
    if round {
        let r = ctx.r(0.45, 0.65) * wide;
        ctx.add(
            "top",
            cylinder(r, t, ctx.segs * 2).translate([0.0, h - t, 0.0]),
            wood,
        );
        let pr = ctx.r(0.05, 0.08);
        ctx.add("pedestal", frustum(pr, pr * 0.8, h - t, ctx.segs), wood);
        let feet = 3 + ctx.rng.below(2);
        for i in 0..feet {
            let a = TAU * i as f32 / feet as f32;
            let foot = cuboid([0.06, 0.05, r * 0.75], [0.0, 0.025, r * 0.375]);
            ctx.add(
                &format!("foot_{}", i + 1),
                foot.transform(&Mat3::rot_y(a), [0.0; 3]),
                wood,
            );
        }
        return format!("round table: top, pedestal, {feet} feet");
    }
    let w = ctx.r(1.0, 1.6) * wide;
    let d = ctx.r(0.6, 0.9) * wide.sqrt();
    let leg = ctx.r(0.05, 0.08);
    ctx.add("top", cuboid([w, t, d], [0.0, h - t / 2.0, 0.0]), wood);
    let inset = ctx.r(0.03, 0.08);
    let (x, z) = (w / 2.0 - inset - leg / 2.0, d / 2.0 - inset - leg / 2.0);
    for (i, (sx, sz)) in [(-1.0, 1.0), (1.0, 1.0), (-1.0, -1.0), (1.0, -1.0)]
        .into_iter()
        .enumerate()
    {
        ctx.add(
            &format!("leg_{}", i + 1),
            cuboid([leg, h - t, leg], [sx * x, (h - t) / 2.0, sz * z]),
            wood,
        );
    }
    let ah = ctx.r(0.06, 0.1);
    let ay = h - t - ah / 2.0;
    ctx.add(
        "apron_front",
        cuboid([2.0 * x, ah, leg * 0.4], [0.0, ay, z]),
        wood,
    );
    ctx.add(
        "apron_back",
        cuboid([2.0 * x, ah, leg * 0.4], [0.0, ay, -z]),
        wood,
    );
    ctx.add(
        "apron_left",
        cuboid([leg * 0.4, ah, 2.0 * z], [-x, ay, 0.0]),
        wood,
    );
    ctx.add(
        "apron_right",
        cuboid([leg * 0.4, ah, 2.0 * z], [x, ay, 0.0]),
        wood,
    );
    if desk {
        let metal = ctx.fixed("handle", Surface::Metal, [180, 180, 185]);
        let bw = w * 0.35;
        let bx = x - bw / 2.0 + leg / 2.0;
        let bh = (h - t) * 0.7;
        ctx.add(
            "drawers",
            cuboid([bw, bh, 2.0 * z], [bx, h - t - bh / 2.0, 0.0]),
            wood,
        );
        for i in 0..3 {
            let y = h - t - bh * (i as f32 + 0.5) / 3.0;
            ctx.add(
                &format!("drawer_handle_{}", i + 1),
                cuboid([bw * 0.3, 0.015, 0.02], [bx, y, z + 0.01]),
                metal,
            );
        }
        return "desk: top, 4 legs, aprons, drawer block with 3 handles".into();
    }
    "table: rectangular top, 4 legs, aprons".into()
}

/// Table lamp (base, pole, shade, glowing bulb), floor lamp, or an
/// architect-style lamp with an angled arm.
pub fn lamp(ctx: &mut Ctx<'_>) -> String {
    let segs = ctx.segs;
    let floor = ctx
        .info
        .has(&["floor", "standing", "street", "streetlight", "streetlamp"]);
    let metal = ctx.primary("lamp_body", Surface::Metal, [60, 60, 65]);
    let bulb = ctx.fixed("bulb", Surface::Glow, [255, 226, 150]);
    let shade = ctx.accent("shade", Surface::Fabric, [235, 222, 190]);
    let height = if floor {
        ctx.r(1.5, 1.8)
    } else {
        ctx.r(0.45, 0.6)
    } * ctx.info.tall;
    let br = height * ctx.r(0.13, 0.2) * if floor { 0.8 } else { 1.0 };
    let bh = height * 0.04;
    ctx.add("base", frustum(br, br * 0.85, bh, segs), metal);
    let pr = height * 0.012;
    if !floor && ctx.rng.chance(0.35) {
        // Architect lamp: two arm segments, joint, tilted conical shade.
        let elbow = [height * 0.25, height * 0.6, 0.0];
        let head = [-height * 0.05, height * 0.95, 0.0];
        ctx.add("arm_lower", rod([0.0, bh, 0.0], elbow, pr, segs / 2), metal);
        ctx.add("joint", sphere(pr * 2.2, segs / 2).translate(elbow), metal);
        ctx.add("arm_upper", rod(elbow, head, pr, segs / 2), metal);
        let sr = height * 0.16;
        // Narrow end at the arm, opening down and forward.
        let cone = lathe(
            &[[pr * 2.0, 0.0], [sr * 0.35, sr * 0.2], [sr, sr * 1.1]],
            segs,
        );
        let tilt = Mat3::rot_z(2.3);
        ctx.add("shade", cone.transform(&tilt, head), shade);
        let bulb_at = crate::mesh::add(head, tilt.mul([0.0, sr * 0.95, 0.0]));
        ctx.add("bulb", sphere(sr * 0.3, segs / 2).translate(bulb_at), bulb);
        return "architect lamp: base, two arm segments, joint, conical shade, glowing bulb".into();
    }
    let top = height * 0.82;
    ctx.add(
        "pole",
        cylinder(pr, top - bh, segs / 2).translate([0.0, bh, 0.0]),
        metal,
    );
    let sr_bottom = height * if floor { 0.14 } else { 0.3 } * ctx.info.wide;
    let sr_top = sr_bottom * ctx.r(0.55, 0.8);
    let sh = height * if floor { 0.18 } else { 0.32 };
    let shade_y = top - sh * 0.35;
    ctx.add(
        "shade",
        frustum(sr_bottom, sr_top, sh, segs * 2).translate([0.0, shade_y, 0.0]),
        shade,
    );
    ctx.add(
        "bulb",
        sphere(sr_bottom * 0.3, segs).translate([0.0, shade_y - sr_bottom * 0.12, 0.0]),
        bulb,
    );
    format!(
        "{} lamp: base, pole, {} shade, glowing bulb",
        if floor { "floor" } else { "table" },
        if sr_top < sr_bottom * 0.7 {
            "tapered"
        } else {
            "drum"
        }
    )
}

/// Hollow mug (lathed body with wall thickness) with a C-shaped handle and,
/// sometimes, coffee inside.
pub fn mug(ctx: &mut Ctx<'_>) -> String {
    let segs = ctx.segs * 2;
    let body = ctx.primary("mug", Surface::Ceramic, [236, 236, 232]);
    let r = 0.045 * ctx.info.wide * ctx.r(0.9, 1.1);
    let h = r * ctx.r(2.0, 2.5) * ctx.info.tall;
    let wall = r * 0.1;
    let bottom = r * 0.15;
    let flare = ctx.r(0.95, 1.1);
    let profile = [
        [r * 0.9, 0.0],
        [r, r * 0.1],
        [r * flare, h],
        [r * flare - wall, h],
        [r * flare - wall, h - wall * 0.5],
        [r - wall, bottom + wall],
        [r - wall * 2.0, bottom],
        [0.0, bottom],
    ];
    ctx.add("body", lathe(&profile, segs), body);
    let hr = h * ctx.r(0.26, 0.32);
    let handle = pipe_arc(
        hr,
        wall * 1.3,
        -FRAC_PI_2 * 1.05,
        FRAC_PI_2 * 1.05,
        ctx.segs,
        10,
    );
    let sx = ctx.r(0.7, 0.9);
    let handle = handle.transform(
        &Mat3::scale([sx, 1.0, 1.0]),
        [r * flare.min(1.0) - wall * 0.5, h * 0.52, 0.0],
    );
    ctx.add("handle", handle, body);
    let coffee = ctx.info.has(&["coffee", "tea", "cocoa", "hot", "latte"]) || ctx.rng.chance(0.4);
    if coffee {
        let drink = ctx.fixed("coffee", Surface::Plastic, [70, 42, 25]);
        let level = h * 0.85;
        let cr = r - wall * 1.2 + (r * flare - r) * (level / h);
        ctx.add(
            "coffee",
            cylinder(cr, level - bottom - 0.002, segs).translate([0.0, bottom + 0.001, 0.0]),
            drink,
        );
    }
    format!(
        "mug: hollow body, C-shaped handle{}",
        if coffee { ", coffee" } else { "" }
    )
}

/// Vase, bottle or jar: a smooth lathed profile, hollow at the mouth.
pub fn vase(ctx: &mut Ctx<'_>) -> String {
    let segs = ctx.segs * 2;
    let bottle = ctx.info.has(&["bottle", "flask"]);
    let jar = ctx.info.has(&["jar", "pot"]);
    let default = if bottle {
        Surface::Glass
    } else {
        Surface::Ceramic
    };
    let color = if bottle {
        [90, 160, 90]
    } else {
        [70, 110, 170]
    };
    let mat = ctx.primary("vase", default, color);
    let h = ctx.r(0.3, 0.45) * ctx.info.tall;
    let w = ctx.info.wide;
    let (base, belly, neck, lip) = if bottle {
        (
            ctx.r(0.07, 0.09),
            ctx.r(0.08, 0.1),
            ctx.r(0.022, 0.03),
            ctx.r(0.025, 0.032),
        )
    } else if jar {
        (
            ctx.r(0.08, 0.1),
            ctx.r(0.12, 0.15),
            ctx.r(0.09, 0.11),
            ctx.r(0.1, 0.12),
        )
    } else {
        (
            ctx.r(0.05, 0.07),
            ctx.r(0.1, 0.14),
            ctx.r(0.035, 0.05),
            ctx.r(0.05, 0.07),
        )
    };
    let belly_y = h * if bottle { 0.45 } else { ctx.r(0.3, 0.5) };
    let neck_y = h * if bottle { 0.75 } else { 0.8 };
    let ctrl = [
        [base * w, 0.0],
        [belly * w, belly_y],
        [neck * w, neck_y],
        [lip * w, h],
    ];
    let mut profile = smooth_profile(&ctrl, (ctx.segs / 3).max(3));
    let wall = 0.006;
    profile.push([lip * w - wall, h]);
    profile.push([neck * w - wall, neck_y]);
    profile.push([0.0, neck_y - h * 0.1]);
    ctx.add("body", lathe(&profile, segs), mat);
    let kind = if bottle {
        "bottle"
    } else if jar {
        "jar"
    } else {
        "vase"
    };
    let band = ctx.accent("band", Surface::Gold, [212, 175, 55]);
    let band_y = belly_y + (neck_y - belly_y) * 0.25;
    let band_r = profile_radius(&profile, band_y) + 0.001;
    ctx.add(
        "band",
        torus(band_r, 0.004, segs, 6).translate([0.0, band_y, 0.0]),
        band,
    );
    let _ = PI;
    format!("{kind}: smooth lathed body hollow at the mouth, decorative band")
}

fn profile_radius(profile: &[[f32; 2]], y: f32) -> f32 {
    for w in profile.windows(2) {
        let (a, b) = (w[0], w[1]);
        if (a[1] <= y && y <= b[1]) && b[1] > a[1] {
            let t = (y - a[1]) / (b[1] - a[1]);
            return a[0] + (b[0] - a[0]) * t;
        }
    }
    profile.iter().map(|p| p[0]).fold(0.0, f32::max)
}
