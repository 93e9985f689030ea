//! What the learning tests share: the synthetic export's features and label.

use edgeseg::learn::examples::Label;

/// The synthetic export's count signals, as the trainer's features.
pub fn features() -> Vec<String> {
    ["views_7d", "carts_7d", "searches_7d"]
        .map(String::from)
        .to_vec()
}

/// A purchase within a day of the moment.
pub fn label() -> Label {
    Label {
        event: "purchase".into(),
        within: 86_400,
        within_text: "1d".into(),
    }
}
