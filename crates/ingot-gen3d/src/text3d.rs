//! Text → 3D: parse the prompt into an object kind, colours, a material and
//! proportion hints, then compose parametric parts (see [`crate::objects`]).

use crate::BuildOptions;
use crate::material::{MaterialSpec, Surface, color_word, make_material, surface_word};
use crate::mesh::{Mat3, Mesh, Part, Scene, Vec3};
use crate::objects;
use crate::parts;
use crate::rng::{Rng, hash_str};

/// Object kinds the text path knows how to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Chair, armchair, throne.
    Chair,
    /// Stool (chair without a back).
    Stool,
    /// Table or desk.
    Table,
    /// House, cottage, hut, barn.
    House,
    /// Deciduous or conifer tree.
    Tree,
    /// Desk or floor lamp.
    Lamp,
    /// Mug or cup.
    Mug,
    /// Vase, bottle, jar, pot.
    Vase,
    /// Castle / wizard tower, lighthouse.
    Tower,
    /// Robot, android, mech.
    Robot,
    /// Stone golem.
    Golem,
    /// Sword, dagger, katana.
    Sword,
    /// Rocket or spaceship.
    Rocket,
    /// Snowman.
    Snowman,
    /// Car, truck, van.
    Car,
    /// Mushroom or toadstool.
    Mushroom,
    /// Anything else: an abstract sculpture seeded by the prompt.
    Sculpture,
}

impl Kind {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Chair => "chair",
            Kind::Stool => "stool",
            Kind::Table => "table",
            Kind::House => "house",
            Kind::Tree => "tree",
            Kind::Lamp => "lamp",
            Kind::Mug => "mug",
            Kind::Vase => "vase",
            Kind::Tower => "tower",
            Kind::Robot => "robot",
            Kind::Golem => "golem",
            Kind::Sword => "sword",
            Kind::Rocket => "rocket",
            Kind::Snowman => "snowman",
            Kind::Car => "car",
            Kind::Mushroom => "mushroom",
            Kind::Sculpture => "sculpture",
        }
    }
}

fn kind_word(word: &str) -> Option<Kind> {
    Some(match word {
        "chair" | "armchair" | "throne" | "recliner" | "seat" | "sofa" | "couch" => Kind::Chair,
        "stool" | "barstool" => Kind::Stool,
        "table" | "desk" | "workbench" | "nightstand" => Kind::Table,
        "house" | "home" | "cottage" | "cabin" | "hut" | "barn" | "shed" | "building" | "villa"
        | "bungalow" => Kind::House,
        "tree" | "oak" | "fir" | "spruce" | "bonsai" | "palm" | "birch" | "maple" => Kind::Tree,
        "lamp" | "lantern" | "streetlight" | "streetlamp" => Kind::Lamp,
        "mug" | "cup" | "teacup" | "tankard" | "stein" => Kind::Mug,
        "vase" | "bottle" | "jar" | "pot" | "urn" | "jug" | "amphora" | "flask" => Kind::Vase,
        "tower" | "castle" | "lighthouse" | "turret" | "keep" | "fortress" => Kind::Tower,
        "robot" | "android" | "mech" | "droid" | "cyborg" | "automaton" | "bot" => Kind::Robot,
        "golem" | "giant" | "troll" | "titan" | "statue" => Kind::Golem,
        "sword" | "blade" | "katana" | "dagger" | "sabre" | "saber" | "knife" | "longsword" => {
            Kind::Sword
        }
        "rocket" | "spaceship" | "missile" | "shuttle" | "spacecraft" | "starship" => Kind::Rocket,
        "snowman" | "snowmen" => Kind::Snowman,
        "car" | "truck" | "van" | "taxi" | "jeep" | "suv" | "sedan" | "automobile" | "vehicle"
        | "pickup" | "bus" => Kind::Car,
        "mushroom" | "toadstool" | "fungus" | "shroom" => Kind::Mushroom,
        _ => return None,
    })
}

/// What the prompt asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptInfo {
    /// Lower-case words of the prompt.
    pub words: Vec<String>,
    /// The first object noun found (or [`Kind::Sculpture`]).
    pub kind: Kind,
    /// Colour words in order of appearance (sRGB).
    pub colors: Vec<[u8; 3]>,
    /// Colour words as written.
    pub color_names: Vec<String>,
    /// First material word.
    pub surface: Option<Surface>,
    /// "tall"/"short" factor applied to heights.
    pub tall: f32,
    /// "wide"/"thin" factor applied to widths.
    pub wide: f32,
}

impl PromptInfo {
    /// True if any of `words` appears in the prompt.
    pub fn has(&self, words: &[&str]) -> bool {
        self.words.iter().any(|w| words.contains(&w.as_str()))
    }
}

fn singular(word: &str) -> &str {
    match word.strip_suffix('s') {
        Some(stem) if stem.len() > 2 && !word.ends_with("ss") => stem,
        _ => word,
    }
}

/// Parses a prompt. Never fails; unknown prompts give [`Kind::Sculpture`].
pub fn parse_prompt(prompt: &str) -> PromptInfo {
    let lower = prompt.to_lowercase();
    let words: Vec<String> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect();
    let mut kind = None;
    let mut colors = Vec::new();
    let mut color_names = Vec::new();
    let mut surface = None;
    let mut tall = 1.0f32;
    let mut wide = 1.0f32;
    for (i, w) in words.iter().enumerate() {
        let w = w.as_str();
        let next_is_noun = words
            .get(i + 1)
            .is_some_and(|n| kind_word(singular(n)).is_some());
        // "pine tree", "oak table": a word that is both material and noun acts
        // as a material when followed by a noun.
        let noun = if next_is_noun {
            None
        } else {
            kind_word(singular(w))
        };
        if kind.is_none() {
            kind = noun;
        }
        // "pine tree", "oak forest": species names, not materials or colours.
        let before_tree = words
            .get(i + 1)
            .is_some_and(|n| matches!(n.as_str(), "tree" | "trees" | "forest"));
        if let Some(c) = color_word(w).filter(|_| !before_tree || surface_word(w).is_none()) {
            colors.push(c);
            color_names.push(w.to_string());
        }
        if surface.is_none() && !before_tree {
            surface = surface_word(w);
        }
        match w {
            "tall" | "high" | "giant" | "huge" | "towering" | "long" => tall *= 1.25,
            "short" | "low" | "squat" | "stubby" => tall *= 0.8,
            "wide" | "fat" | "broad" | "chunky" | "big" | "large" => wide *= 1.2,
            "thin" | "slim" | "narrow" | "slender" | "skinny" => wide *= 0.8,
            _ => {}
        }
    }
    PromptInfo {
        words,
        kind: kind.unwrap_or(Kind::Sculpture),
        colors,
        color_names,
        surface,
        tall: tall.clamp(0.6, 1.6),
        wide: wide.clamp(0.6, 1.5),
    }
}

/// Builder state handed to the object recipes.
pub struct Ctx<'a> {
    /// Parsed prompt.
    pub info: &'a PromptInfo,
    /// Seeded RNG for proportions.
    pub rng: Rng,
    /// Segments around curved parts (from `steps`).
    pub segs: u32,
    textured: bool,
    tex_size: u32,
    tex_rng: Rng,
    scene: Scene,
    mat_keys: Vec<String>,
}

impl<'a> Ctx<'a> {
    fn new(info: &'a PromptInfo, opts: &BuildOptions) -> Self {
        let steps = opts.steps.clamp(10, 50);
        let seed = opts.seed ^ hash_str(&info.words.join(" ")).rotate_left(17);
        Ctx {
            info,
            rng: Rng::new(seed),
            segs: 12 + (steps - 10),
            textured: opts.textured,
            tex_size: match steps {
                0..20 => 64,
                20..35 => 128,
                _ => 256,
            },
            tex_rng: Rng::new(opts.seed.rotate_left(29) ^ 0x7E57),
            scene: Scene {
                name: info.kind.name().to_string(),
                ..Scene::default()
            },
            mat_keys: Vec::new(),
        }
    }

    /// Uniform random number in `[lo, hi)`.
    pub fn r(&mut self, lo: f32, hi: f32) -> f32 {
        self.rng.range(lo, hi)
    }

    /// A material with a fixed look (wheels, glass, bulbs ...), shared by name.
    pub fn fixed(&mut self, name: &str, surface: Surface, color: [u8; 3]) -> usize {
        if let Some(i) = self.mat_keys.iter().position(|k| k == name) {
            return i;
        }
        let spec = MaterialSpec {
            name,
            surface,
            color,
            textured: self.textured,
            texture_size: self.tex_size,
        };
        let m = make_material(spec, &mut self.tex_rng);
        self.scene.materials.push(m);
        self.mat_keys.push(name.to_string());
        self.scene.materials.len() - 1
    }

    /// The object's main material: prompt colour #1 and material word win over
    /// the recipe's defaults.
    pub fn primary(&mut self, name: &str, surface: Surface, color: [u8; 3]) -> usize {
        let s = self.info.surface.unwrap_or(surface);
        let c = match (self.info.colors.first(), self.info.surface) {
            (Some(c), _) => *c,
            (None, Some(s)) => s.default_color(),
            (None, None) => color,
        };
        self.fixed(name, s, c)
    }

    /// An accent material: prompt colour #2 if given, else the default.
    pub fn accent(&mut self, name: &str, surface: Surface, color: [u8; 3]) -> usize {
        let c = self.info.colors.get(1).copied().unwrap_or(color);
        self.fixed(name, surface, c)
    }

    /// Adds a part.
    pub fn add(&mut self, name: &str, mesh: Mesh, material: usize) {
        self.scene.parts.push(Part {
            name: name.to_string(),
            mesh,
            material,
        });
    }

    /// Adds a part after rotating it about Y by `angle` and moving it by `t`.
    pub fn add_at(&mut self, name: &str, mesh: Mesh, angle: f32, t: Vec3, material: usize) {
        self.add(name, mesh.transform(&Mat3::rot_y(angle), t), material);
    }

    /// Names of the parts added so far.
    pub fn part_count(&self) -> usize {
        self.scene.parts.len()
    }
}

/// Builds the scene for a prompt. Returns the scene and a description.
pub fn build(prompt: &str, opts: &BuildOptions) -> (Scene, String) {
    let info = parse_prompt(prompt);
    let mut ctx = Ctx::new(&info, opts);
    let detail = match info.kind {
        Kind::Chair => objects::furniture::chair(&mut ctx, false),
        Kind::Stool => objects::furniture::chair(&mut ctx, true),
        Kind::Table => objects::furniture::table(&mut ctx),
        Kind::Lamp => objects::furniture::lamp(&mut ctx),
        Kind::Mug => objects::furniture::mug(&mut ctx),
        Kind::Vase => objects::furniture::vase(&mut ctx),
        Kind::House => objects::world::house(&mut ctx),
        Kind::Tree => objects::world::tree(&mut ctx),
        Kind::Tower => objects::world::tower(&mut ctx),
        Kind::Snowman => objects::world::snowman(&mut ctx),
        Kind::Mushroom => objects::world::mushroom(&mut ctx),
        Kind::Robot => objects::figures::robot(&mut ctx, false),
        Kind::Golem => objects::figures::robot(&mut ctx, true),
        Kind::Sword => objects::figures::sword(&mut ctx),
        Kind::Rocket => objects::figures::rocket(&mut ctx),
        Kind::Car => objects::figures::car(&mut ctx),
        Kind::Sculpture => sculpture(&mut ctx),
    };
    let mut look = Vec::new();
    look.extend(info.color_names.iter().cloned());
    if let Some(s) = info.surface {
        look.push(s.word().to_string());
    }
    let look = if look.is_empty() {
        String::new()
    } else {
        format!(" ({})", look.join(", "))
    };
    let description = format!(
        "text-to-3D: {}{look}: {detail}; {} parts",
        info.kind.name(),
        ctx.part_count()
    );
    (ctx.scene, description)
}

/// Fallback for prompts without a known object: a pedestal with a stack of
/// 2–4 primitives whose choice, sizes and colours follow the prompt and seed.
fn sculpture(ctx: &mut Ctx<'_>) -> String {
    let segs = ctx.segs;
    let h = hash_str(&ctx.info.words.join(" "));
    let hue_color = [
        (80 + (h & 0x7F)) as u8,
        (80 + ((h >> 8) & 0x7F)) as u8,
        (80 + ((h >> 16) & 0x7F)) as u8,
    ];
    let body = ctx.primary("body", Surface::Ceramic, hue_color);
    let base = ctx.fixed("pedestal", Surface::Stone, [120, 118, 112]);
    let pw = ctx.r(0.5, 0.7);
    let ph = ctx.r(0.12, 0.25);
    if ctx.rng.chance(0.5) {
        ctx.add(
            "pedestal",
            parts::cuboid([pw, ph, pw], [0.0, ph / 2.0, 0.0]),
            base,
        );
    } else {
        ctx.add("pedestal", parts::cylinder(pw / 2.0, ph, segs), base);
    }
    let n = 2 + ctx.rng.below(3);
    let mut y = ph;
    let mut names = Vec::new();
    for i in 0..n {
        let s = ctx.r(0.18, 0.32) * ctx.info.wide;
        let choice = (h.rotate_left(i as u32 * 7) as usize + ctx.rng.below(6)) % 6;
        let (name, mesh, height) = match choice {
            0 => (
                "sphere",
                parts::sphere(s, segs).translate([0.0, s, 0.0]),
                2.0 * s,
            ),
            1 => {
                let m = parts::torus(s, s * 0.3, segs, segs / 2).transform(
                    &Mat3::rot_x(std::f32::consts::FRAC_PI_2),
                    [0.0, s * 1.3, 0.0],
                );
                ("ring", m, 2.6 * s)
            }
            2 => (
                "cone",
                parts::cone(s, 2.2 * s * ctx.info.tall, segs),
                2.2 * s * ctx.info.tall,
            ),
            3 => {
                let a = ctx.r(0.2, 0.8);
                let m = parts::cuboid([1.2 * s; 3], [0.0; 3])
                    .transform(&Mat3::rot_y(a).then(&Mat3::rot_z(0.6)), [0.0, 1.0 * s, 0.0]);
                ("cube", m, 2.0 * s)
            }
            4 => (
                "capsule",
                parts::capsule(s * 0.6, 2.5 * s * ctx.info.tall, segs),
                2.5 * s * ctx.info.tall,
            ),
            _ => (
                "spindle",
                parts::lathe(&[[s * 0.3, 0.0], [s, s], [s * 0.2, 2.0 * s]], segs),
                2.0 * s,
            ),
        };
        let mat = if i % 2 == 0 {
            body
        } else {
            ctx.accent("accent", Surface::Metal, [200, 170, 90])
        };
        ctx.add(&format!("{name}_{i}"), mesh.translate([0.0, y, 0.0]), mat);
        names.push(name);
        y += height * 0.92;
    }
    format!(
        "abstract sculpture (no known object in the prompt): pedestal + {}",
        names.join(" + ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_objects_colours_and_materials() {
        let p = parse_prompt("A small RED wooden Chair, tall");
        assert_eq!(p.kind, Kind::Chair);
        assert_eq!(p.colors, vec![[200, 32, 32]]);
        assert_eq!(p.surface, Some(Surface::Wood));
        assert!(p.tall > 1.0);
        assert_eq!(parse_prompt("two old cars").kind, Kind::Car);
        assert_eq!(parse_prompt("a small stone golem").kind, Kind::Golem);
        assert_eq!(parse_prompt("zzz qqq").kind, Kind::Sculpture);
    }

    #[test]
    fn material_noun_before_noun_is_a_material() {
        let p = parse_prompt("an oak table");
        assert_eq!(p.kind, Kind::Table);
        assert_eq!(p.surface, Some(Surface::Wood));
        assert_eq!(parse_prompt("a big oak").kind, Kind::Tree);
        let pine = parse_prompt("a tall pine tree");
        assert_eq!((pine.kind, pine.surface), (Kind::Tree, None));
    }

    #[test]
    fn first_object_wins() {
        assert_eq!(parse_prompt("a robot holding a sword").kind, Kind::Robot);
    }

    #[test]
    fn every_kind_builds_parts() {
        let prompts = [
            "chair",
            "stool",
            "table",
            "house",
            "tree",
            "pine tree",
            "lamp",
            "mug",
            "vase",
            "tower",
            "robot",
            "golem",
            "sword",
            "rocket",
            "snowman",
            "car",
            "truck",
            "mushroom",
            "something unusual",
        ];
        for p in prompts {
            let opts = BuildOptions {
                seed: 1,
                steps: 10,
                textured: true,
            };
            let (scene, desc) = build(p, &opts);
            assert!(scene.parts.len() >= 2, "{p}: {desc}");
            assert!(scene.triangle_count() > 20, "{p}");
            for part in &scene.parts {
                assert!(part.material < scene.materials.len());
                assert!(
                    !part.mesh.indices.is_empty(),
                    "{p}: empty part {}",
                    part.name
                );
            }
        }
    }

    #[test]
    fn fallback_varies_with_prompt() {
        let opts = BuildOptions {
            seed: 5,
            steps: 20,
            textured: false,
        };
        let (a, _) = build("a mysterious artifact", &opts);
        let (b, _) = build("an ancient relic of the void", &opts);
        assert_ne!(a, b);
    }
}
