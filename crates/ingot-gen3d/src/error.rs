//! Error type of the crate.

/// Why an asset could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum Gen3dError {
    /// Neither a (non-blank) prompt nor an image was supplied.
    #[error("input needs to be either an image or a prompt")]
    EmptyInput,
    /// The image bytes are not a decodable PNG, JPEG, WebP or GIF.
    #[error("could not decode the input image: {0}")]
    ImageDecode(#[source] image::ImageError),
    /// The image declares more pixels than allowed (decompression-bomb guard).
    #[error("input image has {pixels} pixels, more than the maximum of {max}")]
    ImageTooLarge {
        /// Pixels declared by the image header.
        pixels: u64,
        /// The configured maximum.
        max: u64,
    },
    /// Encoding an embedded texture failed.
    #[error("could not encode a texture: {0}")]
    Encode(#[source] image::ImageError),
    /// The generated geometry was unusable (empty, non-finite or too large).
    #[error("generated geometry is invalid: {0}")]
    Geometry(String),
}
