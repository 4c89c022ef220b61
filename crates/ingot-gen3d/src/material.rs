//! PBR metallic-roughness materials and the colour / material vocabulary of prompts.

use crate::rng::Rng;
use crate::texture::{self, Pattern, TextureImage};

/// A glTF metallic-roughness material.
#[derive(Debug, Clone, PartialEq)]
pub struct Material {
    /// Material name as written to the glTF.
    pub name: String,
    /// Linear RGBA base colour factor (multiplied with the texture when present).
    pub base_color: [f32; 4],
    /// 0 = dielectric, 1 = metal.
    pub metallic: f32,
    /// 0 = mirror, 1 = fully rough.
    pub roughness: f32,
    /// Linear emissive colour (e.g. lamp bulbs, rocket flames).
    pub emissive: [f32; 3],
    /// Base colour texture (sRGB), embedded as PNG.
    pub texture: Option<TextureImage>,
}

impl Material {
    /// True when alpha blending is needed.
    pub fn is_transparent(&self) -> bool {
        self.base_color[3] < 0.999
    }
}

/// Surface kind named by a material word of the prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// Painted / untextured matte surface.
    Plain,
    /// Wood grain.
    Wood,
    /// Brushed metal.
    Metal,
    /// Polished gold.
    Gold,
    /// Rough stone.
    Stone,
    /// Bricks with mortar.
    Brick,
    /// Transparent glass or crystal.
    Glass,
    /// Glossy plastic.
    Plastic,
    /// Matte rubber.
    Rubber,
    /// Glazed ceramic.
    Ceramic,
    /// Woven fabric.
    Fabric,
    /// Leaves and grass.
    Foliage,
    /// Ice.
    Ice,
    /// Self-illuminated (bulbs, flames).
    Glow,
}

impl Surface {
    /// Default sRGB colour for the surface when no colour word is given.
    pub fn default_color(self) -> [u8; 3] {
        match self {
            Surface::Plain => [190, 190, 185],
            Surface::Wood => [150, 100, 55],
            Surface::Metal => [170, 172, 178],
            Surface::Gold => [212, 175, 55],
            Surface::Stone => [135, 130, 122],
            Surface::Brick => [165, 70, 50],
            Surface::Glass => [200, 225, 235],
            Surface::Plastic => [220, 220, 220],
            Surface::Rubber => [30, 30, 32],
            Surface::Ceramic => [235, 232, 225],
            Surface::Fabric => [110, 110, 160],
            Surface::Foliage => [60, 130, 50],
            Surface::Ice => [190, 225, 245],
            Surface::Glow => [255, 210, 120],
        }
    }

    fn metallic_roughness(self) -> (f32, f32) {
        match self {
            Surface::Plain => (0.0, 0.7),
            Surface::Wood => (0.0, 0.65),
            Surface::Metal => (1.0, 0.35),
            Surface::Gold => (1.0, 0.25),
            Surface::Stone => (0.0, 0.9),
            Surface::Brick => (0.0, 0.85),
            Surface::Glass => (0.0, 0.05),
            Surface::Plastic => (0.0, 0.35),
            Surface::Rubber => (0.0, 0.95),
            Surface::Ceramic => (0.0, 0.2),
            Surface::Fabric => (0.0, 1.0),
            Surface::Foliage => (0.0, 0.8),
            Surface::Ice => (0.0, 0.1),
            Surface::Glow => (0.0, 0.5),
        }
    }

    fn pattern(self) -> Option<Pattern> {
        match self {
            Surface::Wood => Some(Pattern::Wood),
            Surface::Metal | Surface::Gold => Some(Pattern::Brushed),
            Surface::Stone => Some(Pattern::Stone),
            Surface::Brick => Some(Pattern::Brick),
            Surface::Fabric => Some(Pattern::Weave),
            Surface::Foliage => Some(Pattern::Leaves),
            Surface::Plain | Surface::Rubber | Surface::Ceramic | Surface::Plastic => {
                Some(Pattern::Speckle)
            }
            Surface::Glass | Surface::Ice | Surface::Glow => None,
        }
    }

    /// Lower-case word describing the surface.
    pub fn word(self) -> &'static str {
        match self {
            Surface::Plain => "plain",
            Surface::Wood => "wood",
            Surface::Metal => "metal",
            Surface::Gold => "gold",
            Surface::Stone => "stone",
            Surface::Brick => "brick",
            Surface::Glass => "glass",
            Surface::Plastic => "plastic",
            Surface::Rubber => "rubber",
            Surface::Ceramic => "ceramic",
            Surface::Fabric => "fabric",
            Surface::Foliage => "foliage",
            Surface::Ice => "ice",
            Surface::Glow => "glow",
        }
    }
}

/// Looks up a material word ("wooden", "steel", "marble", ...).
pub fn surface_word(word: &str) -> Option<Surface> {
    Some(match word {
        "wood" | "wooden" | "oak" | "timber" | "bamboo" | "pine" | "walnut" => Surface::Wood,
        "metal" | "metallic" | "steel" | "iron" | "chrome" | "aluminium" | "aluminum"
        | "silver" | "bronze" | "copper" | "brass" | "tin" => Surface::Metal,
        "gold" | "golden" => Surface::Gold,
        "stone" | "rock" | "marble" | "granite" | "concrete" | "cement" | "clay" => Surface::Stone,
        "brick" | "bricks" => Surface::Brick,
        "glass" | "crystal" | "transparent" | "diamond" => Surface::Glass,
        "plastic" | "toy" | "lego" => Surface::Plastic,
        "rubber" => Surface::Rubber,
        "ceramic" | "porcelain" => Surface::Ceramic,
        "fabric" | "cloth" | "leather" | "velvet" | "wool" | "cotton" | "upholstered" => {
            Surface::Fabric
        }
        "ice" | "icy" | "frozen" => Surface::Ice,
        "glowing" | "neon" | "lava" => Surface::Glow,
        _ => return None,
    })
}

/// Looks up a colour word; returns sRGB.
pub fn color_word(word: &str) -> Option<[u8; 3]> {
    Some(match word {
        "red" | "crimson" | "scarlet" => [200, 32, 32],
        "green" | "emerald" => [40, 150, 55],
        "blue" | "azure" => [35, 80, 205],
        "navy" => [20, 32, 95],
        "yellow" => [240, 200, 40],
        "orange" => [240, 120, 25],
        "purple" | "violet" => [120, 50, 175],
        "pink" => [240, 135, 175],
        "magenta" => [205, 40, 165],
        "white" | "snowy" => [236, 236, 236],
        "black" | "dark" => [28, 28, 30],
        "gray" | "grey" => [128, 128, 128],
        "brown" => [120, 76, 40],
        "cyan" | "turquoise" => [40, 200, 210],
        "teal" => [0, 128, 128],
        "beige" | "tan" | "cream" => [222, 202, 165],
        "maroon" => [112, 22, 32],
        "lime" => [150, 220, 50],
        "silver" => [196, 198, 206],
        "bronze" => [165, 105, 50],
        "copper" => [184, 115, 60],
        "brass" => [190, 160, 70],
        "gold" | "golden" => [212, 175, 55],
        "marble" => [225, 222, 215],
        "walnut" => [95, 60, 35],
        "oak" => [170, 125, 75],
        _ => return None,
    })
}

/// sRGB 8-bit to linear float.
pub fn srgb_to_linear(c: u8) -> f32 {
    let c = f32::from(c) / 255.0;
    if c <= 0.04045 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}

/// Options for building a material from a surface kind.
#[derive(Debug, Clone, Copy)]
pub struct MaterialSpec<'a> {
    /// Material name.
    pub name: &'a str,
    /// Surface kind.
    pub surface: Surface,
    /// sRGB colour.
    pub color: [u8; 3],
    /// Whether to generate a procedural texture.
    pub textured: bool,
    /// Texture edge length in pixels (power of two).
    pub texture_size: u32,
}

/// Builds a material; textures are seeded from `rng`.
pub fn make_material(spec: MaterialSpec<'_>, rng: &mut Rng) -> Material {
    let (metallic, roughness) = spec.surface.metallic_roughness();
    let alpha = match spec.surface {
        Surface::Glass => 0.35,
        Surface::Ice => 0.75,
        _ => 1.0,
    };
    let lin = spec.color.map(srgb_to_linear);
    let emissive = if spec.surface == Surface::Glow {
        lin
    } else {
        [0.0; 3]
    };
    let pattern = if spec.textured {
        spec.surface.pattern()
    } else {
        None
    };
    let texture_seed = rng.next_u64();
    match pattern {
        Some(p) => Material {
            name: spec.name.to_string(),
            base_color: [1.0, 1.0, 1.0, alpha],
            metallic,
            roughness,
            emissive,
            texture: Some(texture::generate(
                p,
                spec.color,
                spec.texture_size,
                texture_seed,
            )),
        },
        None => Material {
            name: spec.name.to_string(),
            base_color: [lin[0], lin[1], lin[2], alpha],
            metallic,
            roughness,
            emissive,
            texture: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabulary() {
        assert_eq!(surface_word("wooden"), Some(Surface::Wood));
        assert_eq!(surface_word("golden"), Some(Surface::Gold));
        assert_eq!(surface_word("chair"), None);
        assert_eq!(color_word("red"), Some([200, 32, 32]));
        assert_eq!(color_word("grey"), color_word("gray"));
    }

    #[test]
    fn srgb_conversion_endpoints() {
        assert!(srgb_to_linear(0).abs() < 1e-6);
        assert!((srgb_to_linear(255) - 1.0).abs() < 1e-6);
        assert!((srgb_to_linear(128) - 0.2158).abs() < 1e-3);
    }

    #[test]
    fn untextured_material_has_color_factor() {
        let mut rng = Rng::new(1);
        let spec = MaterialSpec {
            name: "m",
            surface: Surface::Wood,
            color: [255, 0, 0],
            textured: false,
            texture_size: 64,
        };
        let m = make_material(spec, &mut rng);
        assert!(m.texture.is_none());
        assert!((m.base_color[0] - 1.0).abs() < 1e-6 && m.base_color[1] == 0.0);
        let m = make_material(
            MaterialSpec {
                textured: true,
                ..spec
            },
            &mut rng,
        );
        let tex = m.texture.unwrap();
        assert_eq!(tex.rgba.len(), 64 * 64 * 4);
        assert_eq!(m.base_color, [1.0, 1.0, 1.0, 1.0]);
    }

    #[test]
    fn glass_is_transparent_and_untextured() {
        let mut rng = Rng::new(1);
        let spec = MaterialSpec {
            name: "g",
            surface: Surface::Glass,
            color: [200, 200, 200],
            textured: true,
            texture_size: 64,
        };
        let m = make_material(spec, &mut rng);
        assert!(m.is_transparent());
        assert!(m.texture.is_none());
    }
}
