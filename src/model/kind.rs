//! Which of the guide's two networks.

named_enum! {
    pub enum ModelKind("model") {
        Mlp => "mlp",
        Cnn => "cnn",
    }
}
