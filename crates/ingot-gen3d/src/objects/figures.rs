//! Figures and vehicles: robot/golem, sword, rocket, car/truck.

use std::f32::consts::{FRAC_PI_2, PI, TAU};

use crate::material::Surface;
use crate::mesh::Mat3;
use crate::parts::{
    beam, cone, cuboid, cylinder, ellipsoid, extrude_convex, frustum, lathe, rod, sphere, torus,
};
use crate::text3d::Ctx;

/// Humanoid robot (boxy body, glowing eyes, antenna, chest light) or a
/// golem (chunky rough boulders, long arms, glowing eyes, moss).
pub fn robot(ctx: &mut Ctx<'_>, golem: bool) -> String {
    let segs = ctx.segs;
    let (tall, wide) = (ctx.info.tall, ctx.info.wide);
    let body = if golem {
        ctx.primary("rock", Surface::Stone, [125, 118, 108])
    } else {
        ctx.primary("armor", Surface::Metal, [175, 180, 190])
    };
    let joint = ctx.accent(
        "joints",
        if golem {
            Surface::Stone
        } else {
            Surface::Metal
        },
        if golem { [95, 90, 82] } else { [70, 72, 80] },
    );
    let eyes = ctx.fixed(
        "eyes",
        Surface::Glow,
        if golem {
            [255, 150, 40]
        } else {
            [80, 200, 255]
        },
    );
    let leg_h = ctx.r(0.32, 0.42) * tall * if golem { 0.8 } else { 1.0 };
    let torso_w = ctx.r(0.42, 0.5) * wide * if golem { 1.35 } else { 1.0 };
    let torso_h = ctx.r(0.45, 0.55) * tall;
    let torso_d = torso_w * ctx.r(0.55, 0.7);
    let hip_y = leg_h + 0.06;
    let leg_w = torso_w * 0.28;
    for (i, sx) in [-1.0f32, 1.0].into_iter().enumerate() {
        let x = sx * torso_w * 0.25;
        let side = if i == 0 { "left" } else { "right" };
        if golem {
            let m = ellipsoid(
                [leg_w * 0.6, leg_h * 0.55, leg_w * 0.6],
                [x, leg_h * 0.5, 0.0],
                segs,
            );
            ctx.add(&format!("leg_{side}"), m, body);
            ctx.add(
                &format!("foot_{side}"),
                ellipsoid([leg_w * 0.7, 0.07, leg_w * 0.8], [x, 0.05, 0.04], segs),
                joint,
            );
        } else {
            ctx.add(
                &format!("leg_{side}"),
                cuboid([leg_w, leg_h, leg_w], [x, leg_h / 2.0 + 0.05, 0.0]),
                body,
            );
            ctx.add(
                &format!("foot_{side}"),
                cuboid([leg_w * 1.2, 0.06, leg_w * 1.6], [x, 0.03, leg_w * 0.2]),
                joint,
            );
            ctx.add(
                &format!("knee_{side}"),
                sphere(leg_w * 0.45, segs / 2).translate([x, leg_h * 0.55, 0.0]),
                joint,
            );
        }
    }
    ctx.add(
        "pelvis",
        cuboid([torso_w * 0.75, 0.1, torso_d * 0.8], [0.0, hip_y, 0.0]),
        joint,
    );
    let ty = hip_y + 0.05 + torso_h / 2.0;
    let top = ty + torso_h / 2.0;
    if golem {
        ctx.add(
            "torso",
            ellipsoid(
                [torso_w * 0.55, torso_h * 0.6, torso_d * 0.6],
                [0.0, ty, 0.0],
                segs,
            ),
            body,
        );
        let rocks = 3 + ctx.rng.below(3);
        for i in 0..rocks {
            let c = [
                ctx.r(-0.4, 0.4) * torso_w,
                ty + ctx.r(-0.2, 0.35) * torso_h,
                ctx.r(-0.3, 0.3) * torso_d,
            ];
            let s = torso_w * ctx.r(0.15, 0.25);
            let m = cuboid([s, s * 0.8, s], [0.0; 3]).transform(
                &Mat3::rot_y(ctx.r(0.0, PI)).then(&Mat3::rot_x(ctx.r(-0.5, 0.5))),
                c,
            );
            ctx.add(&format!("boulder_{}", i + 1), m, joint);
        }
        let moss = ctx.fixed("moss", Surface::Foliage, [70, 120, 50]);
        ctx.add(
            "moss",
            ellipsoid(
                [torso_w * 0.3, 0.05, torso_d * 0.3],
                [torso_w * 0.15, top - 0.02, 0.0],
                segs,
            ),
            moss,
        );
    } else {
        ctx.add(
            "torso",
            cuboid([torso_w, torso_h, torso_d], [0.0, ty, 0.0]),
            body,
        );
        let core = cylinder(torso_w * 0.12, 0.03, segs).transform(
            &Mat3::rot_x(FRAC_PI_2),
            [0.0, ty + torso_h * 0.15, torso_d / 2.0],
        );
        ctx.add("chest_light", core, eyes);
        ctx.add(
            "chest_panel",
            cuboid(
                [torso_w * 0.6, torso_h * 0.25, 0.02],
                [0.0, ty - torso_h * 0.2, torso_d / 2.0],
            ),
            joint,
        );
    }
    // Head.
    let head = torso_w * if golem { 0.38 } else { 0.5 };
    let hy = top
        + if golem {
            head * 0.25
        } else {
            0.05 + head / 2.0
        };
    if golem {
        ctx.add(
            "head",
            ellipsoid(
                [head * 0.55, head * 0.5, head * 0.55],
                [0.0, hy, torso_d * 0.2],
                segs,
            ),
            body,
        );
    } else {
        ctx.add(
            "neck",
            cylinder(head * 0.2, 0.08, segs / 2).translate([0.0, top - 0.02, 0.0]),
            joint,
        );
        ctx.add(
            "head",
            cuboid([head, head * 0.85, head * 0.85], [0.0, hy, 0.0]),
            body,
        );
        ctx.add(
            "antenna",
            rod(
                [0.0, hy + head * 0.42, 0.0],
                [0.0, hy + head * 0.9, 0.0],
                0.008,
                6,
            ),
            joint,
        );
        ctx.add(
            "antenna_tip",
            sphere(0.025, segs / 2).translate([0.0, hy + head * 0.9, 0.0]),
            eyes,
        );
    }
    let eye_z = if golem {
        torso_d * 0.2 + head * 0.5
    } else {
        head * 0.43
    };
    for sx in [-1.0f32, 1.0] {
        let p = [sx * head * 0.22, hy + head * 0.08, eye_z];
        ctx.add(
            if sx < 0.0 { "eye_left" } else { "eye_right" },
            sphere(head * 0.09, segs / 2).translate(p),
            eyes,
        );
    }
    // Arms hang from the shoulders, slightly spread.
    let arm_len = torso_h * if golem { 1.6 } else { 1.1 };
    let spread = ctx.r(0.08, 0.25);
    for sx in [-1.0f32, 1.0] {
        let side = if sx < 0.0 { "left" } else { "right" };
        let shoulder = [sx * (torso_w / 2.0 + leg_w * 0.35), top - leg_w * 0.4, 0.0];
        ctx.add(
            &format!("shoulder_{side}"),
            sphere(leg_w * 0.5, segs).translate(shoulder),
            joint,
        );
        let elbow = [
            shoulder[0] + sx * arm_len * 0.5 * spread.sin(),
            shoulder[1] - arm_len * 0.5,
            0.03,
        ];
        let hand = [elbow[0] + sx * 0.02, elbow[1] - arm_len * 0.45, 0.1];
        let w = leg_w * if golem { 0.9 } else { 0.6 };
        if golem {
            ctx.add(
                &format!("upper_arm_{side}"),
                ellipsoid(
                    [w * 0.6, arm_len * 0.3, w * 0.6],
                    [
                        (shoulder[0] + elbow[0]) / 2.0,
                        (shoulder[1] + elbow[1]) / 2.0,
                        0.0,
                    ],
                    segs,
                ),
                body,
            );
            ctx.add(
                &format!("forearm_{side}"),
                ellipsoid(
                    [w * 0.7, arm_len * 0.3, w * 0.7],
                    [(elbow[0] + hand[0]) / 2.0, (elbow[1] + hand[1]) / 2.0, 0.06],
                    segs,
                ),
                body,
            );
            ctx.add(
                &format!("fist_{side}"),
                ellipsoid([w * 0.8, w * 0.7, w * 0.8], hand, segs),
                joint,
            );
        } else {
            ctx.add(&format!("upper_arm_{side}"), beam(shoulder, elbow, w), body);
            ctx.add(
                &format!("elbow_{side}"),
                sphere(w * 0.6, segs / 2).translate(elbow),
                joint,
            );
            ctx.add(&format!("forearm_{side}"), beam(elbow, hand, w), body);
            ctx.add(
                &format!("hand_{side}"),
                cuboid([w * 1.2, w * 1.3, w * 1.2], hand),
                joint,
            );
        }
    }
    if golem {
        "stone golem: boulder legs and torso, embedded rocks, long arms with fists, small head with glowing eyes, moss".into()
    } else {
        "robot: box legs with knees and feet, torso with chest light and panel, arms with elbows and hands, head with glowing eyes and antenna".into()
    }
}

/// Sword (or dagger/katana) standing point-up: blade, guard, grip, pommel.
pub fn sword(ctx: &mut Ctx<'_>) -> String {
    let segs = ctx.segs;
    let steel = ctx.primary("blade", Surface::Metal, [200, 205, 215]);
    let guard_m = ctx.accent("guard", Surface::Gold, [212, 175, 55]);
    let grip_m = ctx.fixed("grip", Surface::Fabric, [80, 45, 25]);
    let dagger = ctx.info.has(&["dagger", "knife"]);
    let katana = ctx.info.has(&["katana"]);
    let len = if dagger {
        ctx.r(0.3, 0.4)
    } else {
        ctx.r(0.8, 1.0)
    } * ctx.info.tall;
    let bw = if katana { 0.035 } else { ctx.r(0.045, 0.07) } * ctx.info.wide;
    let th = 0.012;
    let tip = len * if katana { 0.96 } else { ctx.r(0.85, 0.92) };
    // Diamond cross-section: two extrusions bevelled towards the edges.
    let core = [
        [-bw / 2.0, 0.0],
        [bw / 2.0, 0.0],
        [bw / 2.0, tip],
        [0.0, len],
        [-bw / 2.0, tip],
    ];
    ctx.add("blade", extrude_convex(&core, -th / 2.0, th / 2.0), steel);
    let fuller = [
        [-bw * 0.12, 0.02],
        [bw * 0.12, 0.02],
        [bw * 0.12, tip * 0.7],
        [-bw * 0.12, tip * 0.7],
    ];
    ctx.add(
        "fuller",
        extrude_convex(&fuller, -th * 0.6, th * 0.6),
        steel,
    );
    let grip_len = if dagger { 0.1 } else { ctx.r(0.18, 0.25) };
    if katana {
        ctx.add(
            "tsuba",
            cylinder(0.05, 0.015, segs).translate([0.0, -0.015, 0.0]),
            guard_m,
        );
    } else {
        let gw = bw * ctx.r(3.5, 5.0);
        ctx.add(
            "guard",
            cuboid([gw, 0.03, 0.04], [0.0, -0.015, 0.0]),
            guard_m,
        );
        for sx in [-1.0f32, 1.0] {
            ctx.add(
                if sx < 0.0 {
                    "quillon_left"
                } else {
                    "quillon_right"
                },
                sphere(0.022, segs / 2).translate([sx * gw / 2.0, -0.015, 0.0]),
                guard_m,
            );
        }
    }
    ctx.add(
        "grip",
        frustum(0.016, 0.018, grip_len, segs / 2).translate([0.0, -0.03 - grip_len, 0.0]),
        grip_m,
    );
    ctx.add(
        "pommel",
        sphere(0.03, segs).translate([0.0, -0.03 - grip_len - 0.02, 0.0]),
        guard_m,
    );
    let kind = if katana {
        "katana"
    } else if dagger {
        "dagger"
    } else {
        "sword"
    };
    format!(
        "{kind}: pointed blade with fuller, {}, wrapped grip, pommel",
        if katana { "round tsuba" } else { "cross guard" }
    )
}

/// Rocket: lathed body with an ogive nose, fins, porthole, nozzle and flame.
pub fn rocket(ctx: &mut Ctx<'_>) -> String {
    let segs = ctx.segs * 2;
    let hull = ctx.primary("hull", Surface::Plain, [235, 235, 240]);
    let accent = ctx.accent("fins", Surface::Plain, [205, 40, 40]);
    let metal = ctx.fixed("nozzle", Surface::Metal, [90, 90, 95]);
    let glass = ctx.fixed("porthole", Surface::Plastic, [90, 160, 220]);
    let flame = ctx.fixed("flame", Surface::Glow, [255, 150, 40]);
    let r = ctx.r(0.16, 0.22) * ctx.info.wide;
    let h = ctx.r(1.2, 1.6) * ctx.info.tall;
    let body_h = h * ctx.r(0.55, 0.7);
    let nozzle_h = 0.12;
    let mut profile = vec![[r * 0.8, nozzle_h], [r, nozzle_h + 0.05], [r, body_h]];
    let nose_n = (ctx.segs / 3).max(4);
    for i in 1..=nose_n {
        let t = i as f32 / nose_n as f32;
        profile.push([r * (1.0 - t * t).max(0.0).sqrt(), body_h + (h - body_h) * t]);
    }
    ctx.add("hull", lathe(&profile, segs), hull);
    let band_y = body_h * ctx.r(0.55, 0.75);
    ctx.add(
        "stripe",
        cylinder(r * 1.01, 0.06, segs).translate([0.0, band_y, 0.0]),
        accent,
    );
    let fins = 3 + ctx.rng.below(2);
    let fin_len = r * ctx.r(0.8, 1.2);
    let fin_h = h * ctx.r(0.22, 0.3);
    let phase = ctx.r(0.0, TAU);
    for i in 0..fins {
        let poly = [
            [r * 0.8, nozzle_h - 0.05],
            [r + fin_len, nozzle_h - 0.08],
            [r + fin_len * 0.6, nozzle_h + fin_h * 0.4],
            [r * 0.8, nozzle_h + fin_h],
        ];
        let fin = extrude_convex(&poly, -0.012, 0.012);
        ctx.add(
            &format!("fin_{}", i + 1),
            fin.transform(&Mat3::rot_y(phase + TAU * i as f32 / fins as f32), [0.0; 3]),
            accent,
        );
    }
    let wy = body_h * 0.8;
    let rim = torus(r * 0.25, r * 0.05, segs / 2, 8)
        .transform(&Mat3::rot_x(FRAC_PI_2), [0.0, wy, r * 0.98]);
    ctx.add("porthole_rim", rim, metal);
    let pane = ellipsoid(
        [r * 0.24, r * 0.24, r * 0.08],
        [0.0, wy, r * 0.96],
        segs / 2,
    );
    ctx.add("porthole", pane, glass);
    ctx.add(
        "nozzle",
        frustum(r * 0.55, r * 0.75, nozzle_h, segs / 2).translate([0.0, 0.0, 0.0]),
        metal,
    );
    let flame_h = h * ctx.r(0.25, 0.4);
    let plume = cone(r * 0.5, flame_h, segs / 2).transform(&Mat3::rot_x(PI), [0.0, 0.01, 0.0]);
    ctx.add("flame", plume, flame);
    format!("rocket: hull with ogive nose and stripe, {fins} fins, porthole, nozzle, flame")
}

/// Car (body, cabin with windows, roof, 4 wheels with hubcaps, lights) or a
/// pickup truck (cab + cargo bed).
pub fn car(ctx: &mut Ctx<'_>) -> String {
    let segs = ctx.segs;
    let paint = ctx.primary("paint", Surface::Metal, [200, 32, 32]);
    let window = ctx.fixed("window", Surface::Plastic, [40, 55, 70]);
    let rubber = ctx.fixed("tyre", Surface::Rubber, [25, 25, 27]);
    let chrome = ctx.fixed("chrome", Surface::Metal, [200, 200, 205]);
    let head = ctx.fixed("headlight", Surface::Glow, [255, 245, 200]);
    let tail = ctx.fixed("taillight", Surface::Glow, [230, 30, 30]);
    let truck = ctx.info.has(&["truck", "pickup", "jeep", "suv"]);
    let len = ctx.r(1.7, 2.1) * ctx.info.wide.sqrt();
    let w = ctx.r(0.8, 0.95) * ctx.info.wide;
    let wheel_r = ctx.r(0.17, 0.22) * if truck { 1.25 } else { 1.0 };
    let clearance = wheel_r * 0.75;
    let body_h = ctx.r(0.3, 0.38) * if truck { 1.15 } else { 1.0 };
    let body_y = clearance + body_h / 2.0;
    let top = clearance + body_h;
    ctx.add("body", cuboid([len, body_h, w], [0.0, body_y, 0.0]), paint);
    let cabin_h = ctx.r(0.26, 0.34) * ctx.info.tall;
    let (cabin_len, cabin_x) = if truck {
        (len * 0.32, len * 0.12)
    } else {
        (len * ctx.r(0.45, 0.55), -len * ctx.r(0.02, 0.1))
    };
    ctx.add(
        "cabin_windows",
        cuboid(
            [cabin_len, cabin_h, w * 0.86],
            [cabin_x, top + cabin_h / 2.0, 0.0],
        ),
        window,
    );
    ctx.add(
        "roof",
        cuboid(
            [cabin_len * 1.04, 0.04, w * 0.9],
            [cabin_x, top + cabin_h + 0.02, 0.0],
        ),
        paint,
    );
    for (i, sx) in [-1.0f32, 1.0].into_iter().enumerate() {
        for (j, sz) in [-1.0f32, 1.0].into_iter().enumerate() {
            let p = [
                cabin_x + sx * (cabin_len / 2.0 - 0.02),
                top + cabin_h / 2.0,
                sz * (w * 0.43 + 0.005),
            ];
            ctx.add(
                &format!("pillar_{}", i * 2 + j + 1),
                cuboid([0.05, cabin_h, 0.02], p),
                paint,
            );
        }
    }
    if truck {
        let bed_x0 = cabin_x - cabin_len / 2.0 - 0.03;
        let bed_x1 = -len / 2.0;
        let bl = bed_x0 - bed_x1;
        let wall = 0.1;
        ctx.add(
            "bed_wall_left",
            cuboid(
                [bl, wall * 1.8, 0.04],
                [(bed_x0 + bed_x1) / 2.0, top + wall * 0.9, -w / 2.0 + 0.02],
            ),
            paint,
        );
        ctx.add(
            "bed_wall_right",
            cuboid(
                [bl, wall * 1.8, 0.04],
                [(bed_x0 + bed_x1) / 2.0, top + wall * 0.9, w / 2.0 - 0.02],
            ),
            paint,
        );
        ctx.add(
            "tailgate",
            cuboid(
                [0.04, wall * 1.8, w],
                [bed_x1 + 0.02, top + wall * 0.9, 0.0],
            ),
            paint,
        );
    }
    let wheelbase = len * ctx.r(0.3, 0.36);
    let tyre_w = ctx.r(0.14, 0.2);
    for (i, (sx, sz)) in [(1.0f32, 1.0f32), (1.0, -1.0), (-1.0, 1.0), (-1.0, -1.0)]
        .into_iter()
        .enumerate()
    {
        let c = [sx * wheelbase, wheel_r, sz * (w / 2.0 - tyre_w * 0.35)];
        let to_z = Mat3::rot_x(FRAC_PI_2);
        let tyre =
            cylinder(wheel_r, tyre_w, segs).transform(&to_z, [c[0], c[1], c[2] - tyre_w / 2.0]);
        ctx.add(&format!("wheel_{}", i + 1), tyre, rubber);
        let hub_off = sz * (tyre_w / 2.0 + 0.005);
        let hub = cylinder(wheel_r * 0.55, 0.02, segs)
            .transform(&to_z, [c[0], c[1], c[2] + hub_off - 0.01]);
        ctx.add(&format!("hubcap_{}", i + 1), hub, chrome);
    }
    for sz in [-1.0f32, 1.0] {
        let y = top - body_h * 0.3;
        ctx.add(
            if sz < 0.0 {
                "headlight_left"
            } else {
                "headlight_right"
            },
            cuboid([0.03, 0.07, 0.14], [len / 2.0, y, sz * w * 0.33]),
            head,
        );
        ctx.add(
            if sz < 0.0 {
                "taillight_left"
            } else {
                "taillight_right"
            },
            cuboid([0.03, 0.06, 0.12], [-len / 2.0, y, sz * w * 0.35]),
            tail,
        );
    }
    ctx.add(
        "bumper_front",
        cuboid(
            [0.06, 0.08, w * 1.02],
            [len / 2.0 + 0.01, clearance + 0.05, 0.0],
        ),
        chrome,
    );
    ctx.add(
        "bumper_rear",
        cuboid(
            [0.06, 0.08, w * 1.02],
            [-len / 2.0 - 0.01, clearance + 0.05, 0.0],
        ),
        chrome,
    );
    if truck {
        "pickup truck: body, cab with windows and roof, cargo bed, 4 wheels with hubcaps, head/tail lights, bumpers".into()
    } else {
        "car: body, cabin with windows, roof and pillars, 4 wheels with hubcaps, head/tail lights, bumpers".into()
    }
}

#[cfg(test)]
mod tests {
    use crate::BuildOptions;
    use crate::text3d::build;

    #[test]
    fn car_has_four_wheels_below_the_body() {
        let (scene, _) = build(
            "a red car",
            &BuildOptions {
                seed: 3,
                steps: 12,
                textured: false,
            },
        );
        let wheels: Vec<_> = scene
            .parts
            .iter()
            .filter(|p| p.name.starts_with("wheel_"))
            .collect();
        assert_eq!(wheels.len(), 4);
        let body = scene.parts.iter().find(|p| p.name == "body").unwrap();
        let (blo, _) = body.mesh.bounds().unwrap();
        for w in wheels {
            let (lo, _) = w.mesh.bounds().unwrap();
            assert!(lo[1] < blo[1], "wheel should reach below the body");
        }
    }

    #[test]
    fn sword_points_up() {
        let (scene, _) = build(
            "a sword",
            &BuildOptions {
                seed: 3,
                steps: 12,
                textured: false,
            },
        );
        let blade = scene.parts.iter().find(|p| p.name == "blade").unwrap();
        let grip = scene.parts.iter().find(|p| p.name == "grip").unwrap();
        assert!(blade.mesh.bounds().unwrap().1[1] > grip.mesh.bounds().unwrap().1[1]);
    }
}
