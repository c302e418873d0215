//! Tables for terminals.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{ContentArrangement, Table};

/// A table in the house style: condensed UTF-8 borders, wrapped to the
/// terminal's width when there is a usable one.
pub fn new(header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.iter().copied());
    if table.width().is_some_and(|w| w < 40) {
        // A terminal that reports no usable width (a pseudo-terminal
        // without a size): do not squeeze the table into it.
        table.set_content_arrangement(ContentArrangement::Disabled);
    }
    table
}
