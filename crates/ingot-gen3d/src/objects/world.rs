//! Buildings and nature: house, tree, tower/lighthouse, snowman, mushroom.

use std::f32::consts::{FRAC_PI_2, TAU};

use crate::material::Surface;
use crate::mesh::Mat3;
use crate::parts::{
    cone, cuboid, cylinder, ellipsoid, extrude_convex, frustum, lathe, rod, sphere, torus,
};
use crate::text3d::Ctx;

/// House: walls, gable roof with overhang, door, windows per storey, chimney.
pub fn house(ctx: &mut Ctx<'_>) -> String {
    let barn = ctx.info.has(&["barn"]);
    let default_wall = if barn { [165, 40, 35] } else { [232, 220, 195] };
    let walls = ctx.primary("walls", Surface::Plain, default_wall);
    let roof = ctx.accent("roof", Surface::Brick, [120, 50, 38]);
    let wood = ctx.fixed("door", Surface::Wood, [100, 62, 35]);
    let glass = ctx.fixed("window", Surface::Plastic, [70, 100, 135]);
    let stone = ctx.fixed("chimney", Surface::Stone, [120, 115, 110]);
    let storeys = if ctx
        .info
        .has(&["mansion", "storey", "story", "two", "villa"])
        || ctx.rng.chance(0.25)
    {
        2
    } else {
        1
    };
    let w = ctx.r(1.0, 1.4) * ctx.info.wide;
    let d = ctx.r(0.8, 1.1);
    let storey_h = ctx.r(0.6, 0.75) * ctx.info.tall;
    let wall_h = storey_h * storeys as f32;
    ctx.add(
        "walls",
        cuboid([w, wall_h, d], [0.0, wall_h / 2.0, 0.0]),
        walls,
    );
    let o = ctx.r(0.06, 0.12);
    let roof_h = w * ctx.r(0.3, 0.55);
    let t = 0.06;
    // Two sloped slabs meeting at the ridge make an overhanging gable roof.
    let half = w / 2.0 + o;
    let poly_left = [
        [-half, wall_h - t],
        [0.0, wall_h + roof_h - t],
        [0.0, wall_h + roof_h],
        [-half, wall_h],
    ];
    let poly_right = [
        [half, wall_h - t],
        [half, wall_h],
        [0.0, wall_h + roof_h],
        [0.0, wall_h + roof_h - t],
    ];
    ctx.add(
        "roof_left",
        extrude_convex(&poly_left, -d / 2.0 - o, d / 2.0 + o),
        roof,
    );
    ctx.add(
        "roof_right",
        extrude_convex(&poly_right, -d / 2.0 - o, d / 2.0 + o),
        roof,
    );
    let gable = [
        [-w / 2.0, wall_h],
        [w / 2.0, wall_h],
        [0.0, wall_h + roof_h - t],
    ];
    ctx.add("gable", extrude_convex(&gable, -d / 2.0, d / 2.0), walls);
    let door_w = ctx.r(0.18, 0.24);
    let door_h = storey_h * ctx.r(0.55, 0.7);
    let door_x = ctx.r(-0.2, 0.2) * w;
    ctx.add(
        "door",
        cuboid([door_w, door_h, 0.04], [door_x, door_h / 2.0, d / 2.0]),
        wood,
    );
    ctx.add(
        "door_knob",
        sphere(0.015, 8).translate([door_x + door_w * 0.35, door_h * 0.5, d / 2.0 + 0.025]),
        stone,
    );
    let win = ctx.r(0.14, 0.2);
    let mut n_windows = 0;
    for s in 0..storeys {
        let y = storey_h * (s as f32 + 0.55);
        for sx in [-1.0f32, 1.0] {
            let x = sx * w * 0.3;
            if s == 0 && (x - door_x).abs() < door_w / 2.0 + win / 2.0 + 0.03 {
                continue;
            }
            n_windows += 1;
            ctx.add(
                &format!("window_{n_windows}"),
                cuboid([win, win, 0.03], [x, y, d / 2.0]),
                glass,
            );
        }
        for sx in [-1.0f32, 1.0] {
            n_windows += 1;
            ctx.add(
                &format!("window_{n_windows}"),
                cuboid([0.03, win, win * 1.3], [sx * w / 2.0, y, 0.0]),
                glass,
            );
        }
    }
    let chimney = !barn && ctx.rng.chance(0.75);
    if chimney {
        let cx = w * ctx.r(0.15, 0.3);
        let ch = roof_h * (1.0 - cx / half) + 0.25;
        let base = wall_h + 0.02;
        ctx.add(
            "chimney",
            cuboid([0.14, ch, 0.14], [cx, base + ch / 2.0, -d * 0.2]),
            stone,
        );
    }
    format!(
        "{}: {storeys}-storey walls, gable roof, door, {n_windows} windows{}",
        if barn { "barn" } else { "house" },
        if chimney { ", chimney" } else { "" }
    )
}

/// Tree: trunk with a clustered leafy crown, or a conifer of stacked cones.
pub fn tree(ctx: &mut Ctx<'_>) -> String {
    let segs = ctx.segs;
    let conifer = ctx.info.has(&[
        "pine",
        "fir",
        "spruce",
        "christmas",
        "conifer",
        "evergreen",
        "cedar",
    ]);
    let autumn = ctx.info.has(&["autumn", "fall"]);
    let leaf_default = if autumn {
        [215, 110, 30]
    } else if conifer {
        [35, 95, 45]
    } else {
        [70, 140, 55]
    };
    let leaves = ctx.primary("foliage", Surface::Foliage, leaf_default);
    let bark = ctx.fixed("bark", Surface::Wood, [95, 65, 40]);
    let tall = ctx.info.tall;
    if conifer {
        let r0 = ctx.r(0.06, 0.09);
        let trunk_h = ctx.r(0.2, 0.3);
        ctx.add("trunk", frustum(r0, r0 * 0.7, trunk_h + 0.1, segs), bark);
        let tiers = 3 + ctx.rng.below(3);
        let total = ctx.r(1.2, 1.6) * tall;
        let width = ctx.r(0.45, 0.6) * ctx.info.wide;
        let mut y = trunk_h;
        for i in 0..tiers {
            let f = 1.0 - i as f32 / tiers as f32;
            let r = width * (0.35 + 0.65 * f);
            let h = total / tiers as f32 * 1.6;
            ctx.add(
                &format!("tier_{}", i + 1),
                cone(r, h, segs).translate([0.0, y, 0.0]),
                leaves,
            );
            y += total / tiers as f32 * 0.8;
        }
        if ctx.info.has(&["christmas"]) {
            let star = ctx.fixed("star", Surface::Glow, [255, 215, 80]);
            ctx.add(
                "star",
                sphere(0.05, segs / 2).translate([0.0, y + total / tiers as f32 * 0.85, 0.0]),
                star,
            );
        }
        return format!("conifer: trunk, {tiers} stacked cone tiers");
    }
    let r0 = ctx.r(0.07, 0.11) * ctx.info.wide;
    let trunk_h = ctx.r(0.7, 1.0) * tall;
    ctx.add("trunk", frustum(r0, r0 * 0.6, trunk_h, segs), bark);
    let crown_r = ctx.r(0.4, 0.55) * ctx.info.wide;
    let cy = trunk_h + crown_r * 0.55;
    let squash = ctx.r(0.75, 0.95);
    ctx.add(
        "crown",
        ellipsoid([crown_r, crown_r * squash, crown_r], [0.0, cy, 0.0], segs),
        leaves,
    );
    let blobs = 3 + ctx.rng.below(4);
    let phase = ctx.r(0.0, TAU);
    for i in 0..blobs {
        let a = phase + TAU * i as f32 / blobs as f32 + ctx.r(-0.3, 0.3);
        let rr = crown_r * ctx.r(0.45, 0.65);
        let dist = crown_r * ctx.r(0.55, 0.8);
        let (s, c) = a.sin_cos();
        let y = cy + crown_r * ctx.r(-0.35, 0.25);
        let center = [s * dist, y, c * dist];
        ctx.add(
            &format!("leaf_cluster_{}", i + 1),
            ellipsoid([rr, rr * 0.85, rr], center, segs),
            leaves,
        );
        if i % 2 == 0 {
            let from = [0.0, trunk_h * 0.75, 0.0];
            let to = [s * dist * 0.8, y - rr * 0.3, c * dist * 0.8];
            ctx.add(
                &format!("branch_{}", i / 2 + 1),
                rod(from, to, r0 * 0.3, segs / 2),
                bark,
            );
        }
    }
    format!(
        "{}tree: tapered trunk, branches, crown of {} leaf clusters",
        if autumn { "autumn " } else { "" },
        blobs + 1
    )
}

/// Castle / wizard tower (battlements or conical roof, windows, door) or a
/// striped lighthouse with a glowing lantern.
pub fn tower(ctx: &mut Ctx<'_>) -> String {
    let segs = ctx.segs * 2;
    let tall = ctx.info.tall;
    if ctx.info.has(&["lighthouse"]) {
        let white = ctx.primary("stripe_a", Surface::Plain, [240, 240, 235]);
        let red = ctx.accent("stripe_b", Surface::Plain, [200, 35, 35]);
        let lamp = ctx.fixed("lantern", Surface::Glow, [255, 235, 160]);
        let dark = ctx.fixed("iron", Surface::Metal, [50, 50, 55]);
        let h = ctx.r(1.4, 1.8) * tall;
        let (r0, r1) = (0.3 * ctx.info.wide, 0.18 * ctx.info.wide);
        let bands = 4 + ctx.rng.below(3);
        for i in 0..bands {
            let (y0, y1) = (
                h * i as f32 / bands as f32,
                h * (i + 1) as f32 / bands as f32,
            );
            let ra = r0 + (r1 - r0) * y0 / h;
            let rb = r0 + (r1 - r0) * y1 / h;
            let m = frustum(ra, rb, y1 - y0, segs).translate([0.0, y0, 0.0]);
            ctx.add(
                &format!("band_{}", i + 1),
                m,
                if i % 2 == 0 { white } else { red },
            );
        }
        ctx.add(
            "gallery",
            cylinder(r1 * 1.4, 0.04, segs).translate([0.0, h, 0.0]),
            dark,
        );
        ctx.add(
            "lantern",
            cylinder(r1 * 0.8, 0.2, segs).translate([0.0, h + 0.04, 0.0]),
            lamp,
        );
        ctx.add(
            "cap",
            cone(r1 * 1.05, 0.18, segs).translate([0.0, h + 0.24, 0.0]),
            dark,
        );
        return format!("lighthouse: {bands} striped bands, gallery, glowing lantern, cap");
    }
    let stone = ctx.primary("stone", Surface::Stone, [150, 145, 135]);
    let wood = ctx.fixed("door", Surface::Wood, [90, 55, 30]);
    let dark = ctx.fixed("window", Surface::Plastic, [25, 25, 30]);
    let r = ctx.r(0.25, 0.35) * ctx.info.wide;
    let h = ctx.r(1.2, 1.7) * tall;
    ctx.add("shaft", frustum(r * 1.08, r, h, segs), stone);
    ctx.add("plinth", cylinder(r * 1.18, 0.08, segs), stone);
    let wizard = ctx.info.has(&["wizard", "mage", "fairy", "princess"]) || ctx.rng.chance(0.4);
    let roof_desc = if wizard {
        let roof = ctx.accent("roof", Surface::Plain, [50, 60, 140]);
        ctx.add(
            "eave",
            cylinder(r * 1.25, 0.05, segs).translate([0.0, h, 0.0]),
            stone,
        );
        let rh = r * ctx.r(2.0, 2.8);
        ctx.add(
            "roof",
            cone(r * 1.3, rh, segs).translate([0.0, h + 0.05, 0.0]),
            roof,
        );
        "conical roof"
    } else {
        ctx.add(
            "parapet",
            cylinder(r * 1.15, 0.1, segs).translate([0.0, h, 0.0]),
            stone,
        );
        let merlons = 8 + 2 * ctx.rng.below(3);
        for i in 0..merlons {
            let a = TAU * i as f32 / merlons as f32;
            let m = cuboid([r * 0.35, 0.12, 0.1], [0.0, h + 0.16, r * 1.08]);
            ctx.add(
                &format!("merlon_{}", i + 1),
                m.transform(&Mat3::rot_y(a), [0.0; 3]),
                stone,
            );
        }
        "battlements"
    };
    ctx.add(
        "door",
        cuboid([r * 0.55, 0.3, 0.06], [0.0, 0.15 + 0.04, r * 1.06]),
        wood,
    );
    let levels = 2 + ctx.rng.below(2);
    let mut windows = 0;
    for l in 0..levels {
        let y = h * (0.35 + 0.5 * l as f32 / levels as f32);
        for k in 0..3 {
            let a = ctx.r(0.0, TAU) + k as f32 * 2.1;
            let win = cuboid([0.07, 0.16, 0.06], [0.0, y, r * 1.0]);
            windows += 1;
            ctx.add(
                &format!("window_{windows}"),
                win.transform(&Mat3::rot_y(a), [0.0; 3]),
                dark,
            );
        }
    }
    format!("tower: tapered round shaft, plinth, {roof_desc}, door, {windows} windows")
}

/// Snowman: three stacked snowballs, coal eyes and buttons, carrot nose,
/// stick arms and a top hat or scarf in the prompt's colour.
pub fn snowman(ctx: &mut Ctx<'_>) -> String {
    let segs = ctx.segs;
    let snow = ctx.fixed("snow", Surface::Plain, [246, 248, 252]);
    let coal = ctx.fixed("coal", Surface::Rubber, [20, 20, 22]);
    let carrot = ctx.fixed("carrot", Surface::Plain, [240, 120, 25]);
    let stick = ctx.fixed("stick", Surface::Wood, [90, 60, 35]);
    let accent = ctx.primary("scarf", Surface::Fabric, [200, 30, 35]);
    let r1 = ctx.r(0.28, 0.34) * ctx.info.wide;
    let r2 = r1 * ctx.r(0.68, 0.78);
    let r3 = r2 * ctx.r(0.65, 0.75);
    let y1 = r1;
    let y2 = y1 + (r1 + r2) * 0.8;
    let y3 = y2 + (r2 + r3) * 0.82;
    ctx.add(
        "bottom_ball",
        sphere(r1, segs).translate([0.0, y1, 0.0]),
        snow,
    );
    ctx.add(
        "middle_ball",
        sphere(r2, segs).translate([0.0, y2, 0.0]),
        snow,
    );
    ctx.add("head", sphere(r3, segs).translate([0.0, y3, 0.0]), snow);
    for sx in [-1.0f32, 1.0] {
        let p = [sx * r3 * 0.35, y3 + r3 * 0.25, r3 * 0.9];
        ctx.add(
            if sx < 0.0 { "eye_left" } else { "eye_right" },
            sphere(r3 * 0.09, 8).translate(p),
            coal,
        );
    }
    let nose =
        cone(r3 * 0.13, r3 * 0.7, 10).transform(&Mat3::rot_x(FRAC_PI_2), [0.0, y3, r3 * 0.9]);
    ctx.add("nose", nose, carrot);
    for i in 0..3 {
        let a = 0.5 - 0.45 * i as f32;
        let p = [0.0, y2 + r2 * a.sin(), r2 * a.cos() * 0.98];
        ctx.add(
            &format!("button_{}", i + 1),
            sphere(r2 * 0.08, 8).translate(p),
            coal,
        );
    }
    for sx in [-1.0f32, 1.0] {
        let from = [sx * r2 * 0.8, y2 + r2 * 0.2, 0.0];
        let to = [sx * (r2 + r1 * 1.2), y2 + r2 * ctx.r(0.6, 1.1), 0.0];
        ctx.add(
            if sx < 0.0 { "arm_left" } else { "arm_right" },
            rod(from, to, 0.015, 6),
            stick,
        );
        let mid = [
            from[0] + (to[0] - from[0]) * 0.7,
            from[1] + (to[1] - from[1]) * 0.7,
            0.0,
        ];
        let twig = [mid[0] + sx * 0.08, mid[1] + 0.12, 0.0];
        ctx.add(
            if sx < 0.0 { "twig_left" } else { "twig_right" },
            rod(mid, twig, 0.01, 6),
            stick,
        );
    }
    let hat = ctx.rng.chance(0.6) || ctx.info.has(&["hat"]);
    if hat {
        let black = ctx.fixed("hat", Surface::Fabric, [25, 25, 28]);
        let top = y3 + r3 * 0.8;
        ctx.add(
            "hat_brim",
            cylinder(r3 * 1.05, 0.025, segs).translate([0.0, top, 0.0]),
            black,
        );
        ctx.add(
            "hat_crown",
            cylinder(r3 * 0.68, r3 * 0.9, segs).translate([0.0, top, 0.0]),
            black,
        );
        ctx.add(
            "hat_band",
            cylinder(r3 * 0.7, r3 * 0.16, segs).translate([0.0, top + 0.03, 0.0]),
            accent,
        );
    }
    let neck_y = y2 + r2 * 0.82;
    ctx.add(
        "scarf",
        torus(r3 * 0.85, r3 * 0.17, segs, 10).translate([0.0, neck_y, 0.0]),
        accent,
    );
    format!(
        "snowman: 3 snowballs, coal eyes and 3 buttons, carrot nose, stick arms, scarf{}",
        if hat { ", top hat" } else { "" }
    )
}

/// Mushroom (or a cluster of 2–3): stem and domed cap with spots.
pub fn mushroom(ctx: &mut Ctx<'_>) -> String {
    let segs = ctx.segs * 2;
    let cap = ctx.primary("cap", Surface::Plain, [200, 35, 30]);
    let stem = ctx.fixed("stem", Surface::Plain, [235, 225, 200]);
    let spots = ctx.accent("spots", Surface::Plain, [250, 250, 245]);
    let cluster = ctx.info.words.iter().any(|w| w == "mushrooms") || ctx.rng.chance(0.3);
    let count = if cluster { 2 + ctx.rng.below(2) } else { 1 };
    let mut total_spots = 0;
    for m in 0..count {
        let s = if m == 0 { 1.0 } else { ctx.r(0.45, 0.7) };
        let a = TAU * m as f32 / count as f32 + 0.6;
        let off = if m == 0 {
            [0.0, 0.0, 0.0]
        } else {
            [a.sin() * 0.35, 0.0, a.cos() * 0.35]
        };
        let sh = ctx.r(0.35, 0.5) * ctx.info.tall * s;
        let sr = ctx.r(0.06, 0.09) * s;
        ctx.add(
            &format!("stem_{}", m + 1),
            frustum(sr * 1.3, sr, sh, segs / 2).translate(off),
            stem,
        );
        let cr = ctx.r(0.22, 0.3) * ctx.info.wide * s;
        let ch = cr * ctx.r(0.5, 0.8);
        let rings = (ctx.segs / 2).max(4);
        let mut profile = vec![[sr * 0.9, 0.0], [cr, 0.0]];
        for i in 1..=rings {
            let t = FRAC_PI_2 * i as f32 / rings as f32;
            profile.push([cr * t.cos(), ch * t.sin()]);
        }
        let top = sh * 0.95;
        let at = [off[0], top, off[2]];
        ctx.add(
            &format!("cap_{}", m + 1),
            lathe(&profile, segs).translate(at),
            cap,
        );
        let n = 5 + ctx.rng.below(5);
        for k in 0..n {
            let phi = ctx.r(0.25, 1.2);
            let th = ctx.r(0.0, TAU) + k as f32;
            let (sp, cp) = phi.sin_cos();
            let p = [
                off[0] + cr * sp * th.sin(),
                top + ch * cp,
                off[2] + cr * sp * th.cos(),
            ];
            let rad = cr * ctx.r(0.07, 0.12);
            total_spots += 1;
            ctx.add(
                &format!("spot_{total_spots}"),
                ellipsoid([rad, rad * 0.35, rad], p, 10),
                spots,
            );
        }
    }
    format!(
        "mushroom{}: stem, domed cap, {total_spots} spots",
        if count > 1 {
            format!(" cluster of {count}")
        } else {
            String::new()
        }
    )
}
