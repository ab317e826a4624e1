//! Reading offer files (the embedded snapshot, a refresh cache, a user's file) with
//! validation. A bad row is rejected with its file, line and column and the rest loads;
//! a file whose header is wrong is rejected whole.
//!
//! The rules catch the data bugs that ship in public catalogs today: a $0.00 spot price
//! an optimizer would pick as free, a GPU's memory read as 0 GB, eight GPUs' total
//! memory shown as one GPU's, a spot price above on-demand, a GPU nobody can name.

use crate::category::Category;
use crate::fx::Rates;
use crate::gpu::GpuTable;
use crate::offer::{Billing, OFFER_COLUMNS, Offer, Origin, Pricing};
use serde::Serialize;
use std::fmt;
use std::sync::Arc;

/// Relative tolerance when comparing a stated memory size with the spec: providers mix
/// GB, GiB and MiB (an 80 GB H100 shows as 79.6 GiB; an H200 as 140.4 GiB).
const VRAM_TOLERANCE: f64 = 0.08;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowError {
    pub file: String,
    pub line: u64,
    pub column: Option<String>,
    pub message: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.file, self.line)?;
        if let Some(c) = &self.column {
            write!(f, "{c}: ")?;
        }
        f.write_str(&self.message)
    }
}

#[derive(Debug, Default)]
pub struct LoadReport {
    pub offers: Vec<Offer>,
    /// Rows (or whole files) rejected, each with where and why.
    pub rejected: Vec<RowError>,
}

struct Columns([usize; OFFER_COLUMNS.len()]);

impl Columns {
    /// The column name of field `field` of a row, if it is one of the offer columns.
    fn name_of(&self, field: usize) -> Option<&'static str> {
        self.0
            .iter()
            .position(|&i| i == field)
            .map(|c| OFFER_COLUMNS[c])
    }

    fn from_header(header: &csv::StringRecord) -> Result<Columns, String> {
        for h in header.iter() {
            if !OFFER_COLUMNS.contains(&h.trim()) {
                let near = OFFER_COLUMNS
                    .iter()
                    .map(|c| (strsim::jaro_winkler(h, c), c))
                    .max_by(|a, b| a.0.total_cmp(&b.0))
                    .filter(|(s, _)| *s > 0.8)
                    .map(|(_, c)| format!("; did you mean '{c}'?"))
                    .unwrap_or_default();
                return Err(format!("unknown column '{h}'{near}"));
            }
        }
        let mut idx = [0; OFFER_COLUMNS.len()];
        for (i, name) in OFFER_COLUMNS.iter().enumerate() {
            idx[i] = header
                .iter()
                .position(|h| h.trim() == *name)
                .ok_or_else(|| format!("missing column '{name}'"))?;
        }
        Ok(Columns(idx))
    }
}

/// One row's fields, by column name, with typed parsing that names the column on error.
struct Row<'r> {
    rec: &'r csv::StringRecord,
    cols: &'r Columns,
}

type FieldError = (&'static str, String);

impl Row<'_> {
    fn text(&self, col: usize) -> &str {
        self.rec.get(self.cols.0[col]).unwrap_or("").trim()
    }

    fn name(col: usize) -> &'static str {
        OFFER_COLUMNS[col]
    }

    fn required(&self, col: usize) -> Result<&str, FieldError> {
        let t = self.text(col);
        if t.is_empty() {
            Err((Self::name(col), "is empty".into()))
        } else {
            Ok(t)
        }
    }

    fn number(&self, col: usize) -> Result<Option<f64>, FieldError> {
        let t = self.text(col);
        if t.is_empty() {
            return Ok(None);
        }
        match t.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(Some(v)),
            _ => Err((Self::name(col), format!("'{t}' is not a number"))),
        }
    }

    fn parsed<T: std::str::FromStr<Err = E>, E: fmt::Display>(
        &self,
        col: usize,
    ) -> Result<T, FieldError> {
        self.required(col)?
            .parse()
            .map_err(|e: E| (Self::name(col), e.to_string()))
    }
}

// Column indices into OFFER_COLUMNS.
const PROVIDER: usize = 0;
const CATEGORY: usize = 1;
const OFFERING: usize = 2;
const REGION: usize = 3;
const INSTANCE_TYPE: usize = 4;
const GPU: usize = 5;
const GPU_COUNT: usize = 6;
const GPU_VRAM_GB: usize = 7;
const VCPUS: usize = 8;
const RAM_GB: usize = 9;
const PRICE_HOUR: usize = 10;
const SPOT_PRICE_HOUR: usize = 11;
const CURRENCY: usize = 12;
const EGRESS_PER_GB: usize = 13;
const BILLING: usize = 14;
const RELIABILITY: usize = 15;
const QUEUE_WAIT_H: usize = 16;
const PRICING: usize = 17;
const SOURCE: usize = 18;
const AS_OF: usize = 19;

/// Above this an hourly price (in its own currency) is a typo or a unit mix-up, not an
/// offer: the dearest rentals listed are about $100 an hour for an 8-GPU machine.
const MAX_PRICE_HOUR: f64 = 100_000.0;
const NOTES: usize = 20;

impl LoadReport {
    /// Moves the rows dated after `today` to the rejected: a row from the future would hide
    /// the real row of today.
    pub fn reject_future(&mut self, today: crate::Date) -> usize {
        reject_future(&mut self.offers, &mut self.rejected, today)
    }
}

/// Moves the rows of `offers` dated after `today` to `rejected`, each with its file and
/// line; how many.
pub(crate) fn reject_future(
    offers: &mut Vec<Offer>,
    rejected: &mut Vec<RowError>,
    today: crate::Date,
) -> usize {
    let before = rejected.len();
    offers.retain(|o| {
        let future = o.as_of.is_after(today);
        if future {
            rejected.push(RowError {
                file: o.origin.to_string(),
                line: o.line,
                column: Some("as_of".into()),
                message: format!(
                    "{} is after today ({today}): a row from the future would hide today's price",
                    o.as_of
                ),
            });
        }
        !future
    });
    // In file order, as the loader reports them.
    rejected.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    rejected.len() - before
}

/// The line a byte offset is on, counting `\n` only, so CRLF files (what spreadsheets
/// write) and quoted fields that span lines are numbered as an editor numbers them. Offsets
/// come in increasing order, so the file is scanned once.
struct LineCounter<'t> {
    text: &'t [u8],
    at_byte: usize,
    line: u64,
}

impl<'t> LineCounter<'t> {
    fn new(text: &'t [u8]) -> LineCounter<'t> {
        LineCounter {
            text,
            at_byte: 0,
            line: 1,
        }
    }

    fn at(&mut self, byte: u64) -> u64 {
        let mut byte = (byte as usize).min(self.text.len());
        // After a CRLF the reader places the next record at the `\n`: the record itself
        // starts past the line end.
        while byte < self.text.len() && matches!(self.text[byte], b'\r' | b'\n') {
            byte += 1;
        }
        if byte < self.at_byte {
            // Not expected; counted afresh rather than wrong.
            self.at_byte = 0;
            self.line = 1;
        }
        self.line += self.text[self.at_byte..byte]
            .iter()
            .filter(|&&b| b == b'\n')
            .count() as u64;
        self.at_byte = byte;
        self.line
    }
}

/// Parses and validates one offer file. `file` names it in errors.
///
/// The file is bytes, not text: a row that is not UTF-8 (a spreadsheet's Latin-1 export) is
/// rejected by its line, and the other rows still load.
pub fn load_offers(
    text: impl AsRef<[u8]>,
    origin: Origin,
    table: &GpuTable,
    rates: &Rates,
) -> LoadReport {
    let file = origin.to_string();
    let origin = Arc::new(origin);
    let mut report = LoadReport::default();
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_ref());
    let cols = match reader.headers().map_err(|e| e.to_string()).and_then(|h| {
        let h = h.clone();
        Columns::from_header(&h)
    }) {
        Ok(c) => c,
        Err(message) => {
            report.rejected.push(RowError {
                file,
                line: 1,
                column: None,
                message: format!("{message}; the whole file was skipped"),
            });
            return report;
        }
    };
    // A file names few distinct GPUs; resolve each name once.
    let mut gpu_names: std::collections::HashMap<String, Result<crate::GpuId, String>> =
        std::collections::HashMap::new();
    let mut lines = LineCounter::new(text.as_ref());
    let mut rec = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {}
            // A row that is not UTF-8 is that row's fault only: the reader goes on.
            Err(e) if matches!(e.kind(), csv::ErrorKind::Utf8 { .. }) => {
                if let csv::ErrorKind::Utf8 { pos, err } = e.kind() {
                    report.rejected.push(RowError {
                        file: file.clone(),
                        line: lines.at(pos.as_ref().map_or(0, |p| p.byte())),
                        column: cols.name_of(err.field()).map(str::to_string),
                        message: format!(
                            "not UTF-8 text (byte {} of the field): save the file as UTF-8",
                            err.valid_up_to() + 1
                        ),
                    });
                }
                continue;
            }
            Err(e) => {
                report.rejected.push(RowError {
                    file: file.clone(),
                    line: lines.at(e.position().map_or(0, |p| p.byte())),
                    column: None,
                    message: e.to_string(),
                });
                // A CSV syntax error leaves the reader's position unreliable.
                break;
            }
        }
        let line = lines.at(rec.position().map_or(0, |p| p.byte()));
        if rec.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        if rec.len() != OFFER_COLUMNS.len() {
            report.rejected.push(RowError {
                file: file.clone(),
                line,
                column: None,
                message: format!(
                    "expected {} fields, found {}",
                    OFFER_COLUMNS.len(),
                    rec.len()
                ),
            });
            continue;
        }
        let row = Row {
            rec: &rec,
            cols: &cols,
        };
        match parse_row(&row, table, rates, &mut gpu_names) {
            Ok(mut offer) => {
                offer.origin = origin.clone();
                offer.line = line;
                report.offers.push(offer);
            }
            Err((column, message)) => report.rejected.push(RowError {
                file: file.clone(),
                line,
                column: Some(column.to_string()),
                message,
            }),
        }
    }
    report
}

fn parse_row(
    row: &Row,
    table: &GpuTable,
    rates: &Rates,
    gpu_names: &mut std::collections::HashMap<String, Result<crate::GpuId, String>>,
) -> Result<Offer, FieldError> {
    let provider = row.required(PROVIDER)?.to_ascii_lowercase();
    let category: Category = row.parsed(CATEGORY)?;
    let gpu_name = row.required(GPU)?;
    let gpu = match gpu_names.get(gpu_name) {
        Some(r) => r.clone(),
        None => {
            let r = table.resolve_one(gpu_name);
            gpu_names.insert(gpu_name.to_string(), r.clone());
            r
        }
    }
    .map_err(|e| ("gpu", e))?;
    let spec = table.get(gpu);

    let gpu_count: u32 = row
        .required(GPU_COUNT)?
        .parse()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or((
            "gpu_count",
            format!("'{}' is not a whole number >= 1", row.text(GPU_COUNT)),
        ))?;

    let gpu_vram_gb = match row.number(GPU_VRAM_GB)? {
        None => spec.vram_gb,
        Some(v) => check_vram(v, spec.vram_gb, &spec.id, gpu_count)?,
    };

    let pricing: Pricing = row.parsed(PRICING)?;
    let currency = row.required(CURRENCY)?.to_ascii_uppercase();
    let usd_per_unit = rates.usd_per_unit(&currency).ok_or((
        "currency",
        format!("no exchange rate for '{currency}' (add it to fx.csv)"),
    ))?;

    let price = row.number(PRICE_HOUR)?;
    let spot = row.number(SPOT_PRICE_HOUR)?;
    for (col, v) in [(PRICE_HOUR, price), (SPOT_PRICE_HOUR, spot)] {
        if v.is_some_and(|p| p > MAX_PRICE_HOUR) {
            return Err((
                Row::name(col),
                format!(
                    "{} is not a plausible hourly price (no machine rents for more than {MAX_PRICE_HOUR} an hour): a typo or a unit mix-up",
                    row.text(col)
                ),
            ));
        }
    }
    match pricing {
        Pricing::Cash => {
            if let Some(p) = price
                && p <= 0.0
            {
                return Err((
                    "price_hour",
                    format!(
                        "{p} is not a price: a cash offer must cost > 0 per hour (a $0 price would be picked as free); leave it blank with pricing=allocation or volunteer"
                    ),
                ));
            }
            if price.is_none() && spot.is_none() {
                return Err((
                    "price_hour",
                    "is empty for a cash offer (give price_hour or spot_price_hour, or set pricing to allocation or volunteer)".into(),
                ));
            }
        }
        Pricing::Allocation | Pricing::Volunteer => {
            if price.is_some_and(|p| p != 0.0) || spot.is_some_and(|p| p != 0.0) {
                return Err((
                    "price_hour",
                    format!(
                        "an offer with pricing={pricing} has no cash price; leave price_hour and spot_price_hour blank"
                    ),
                ));
            }
        }
    }
    let price = price.filter(|_| pricing == Pricing::Cash);
    let spot = spot.filter(|_| pricing == Pricing::Cash);
    if let Some(s) = spot {
        if s <= 0.0 {
            return Err((
                "spot_price_hour",
                format!(
                    "{s} is not a price (a 0.00 spot price usually means 'not captured': leave it blank)"
                ),
            ));
        }
        if let Some(p) = price
            && s > p * (1.0 + 1e-9)
        {
            return Err((
                "spot_price_hour",
                format!("spot {s} is above on-demand {p}"),
            ));
        }
    }

    let egress_per_gb = row.number(EGRESS_PER_GB)?;
    if egress_per_gb.is_some_and(|e| e < 0.0) {
        return Err(("egress_per_gb", "must be >= 0".into()));
    }
    let reliability = row.number(RELIABILITY)?;
    if reliability.is_some_and(|r| !(0.0..=1.0).contains(&r)) {
        return Err(("reliability", "must be between 0 and 1".into()));
    }
    let queue_wait_h = row.number(QUEUE_WAIT_H)?;
    if queue_wait_h.is_some_and(|q| q < 0.0) {
        return Err(("queue_wait_h", "must be >= 0".into()));
    }
    let positive = |col: usize| -> Result<Option<f64>, FieldError> {
        match row.number(col)? {
            Some(v) if v <= 0.0 => Err((OFFER_COLUMNS[col], format!("{v} must be > 0"))),
            other => Ok(other),
        }
    };
    let source = row.required(SOURCE).map_err(|_| {
        (
            "source",
            "is empty: every price needs where it came from".to_string(),
        )
    })?;
    let as_of = row
        .required(AS_OF)
        .map_err(|_| {
            (
                "as_of",
                "is empty: every price needs the date it was observed".to_string(),
            )
        })?
        .parse()
        .map_err(|e: crate::date::BadDate| ("as_of", e.to_string()))?;

    Ok(Offer {
        provider,
        category,
        offering: row.text(OFFERING).to_string(),
        region: row.text(REGION).to_string(),
        instance_type: row.text(INSTANCE_TYPE).to_string(),
        gpu,
        gpu_count,
        gpu_vram_gb,
        vcpus: positive(VCPUS)?,
        ram_gb: positive(RAM_GB)?,
        price_hour: price.map(|p| p * usd_per_unit),
        spot_price_hour: spot.map(|p| p * usd_per_unit),
        price_hour_original: price,
        currency,
        egress_per_gb,
        billing: row.parsed::<Billing, _>(BILLING)?,
        reliability,
        queue_wait_h,
        pricing,
        source: source.to_string(),
        as_of,
        notes: row.text(NOTES).to_string(),
        origin: Arc::new(Origin::Config(String::new())),
        line: 0,
    })
}

fn check_vram(stated: f64, spec_gb: f64, id: &str, count: u32) -> Result<f64, FieldError> {
    let close = |a: f64, b: f64| (a - b).abs() <= b * VRAM_TOLERANCE;
    if stated <= 0.0 {
        return Err((
            "gpu_vram_gb",
            format!(
                "{stated} GB is not a memory size ({id} has {spec_gb} GB; leave blank to use the spec)"
            ),
        ));
    }
    if close(stated, spec_gb) {
        return Ok(stated);
    }
    if count > 1 && close(stated, spec_gb * f64::from(count)) {
        return Err((
            "gpu_vram_gb",
            format!(
                "{stated} GB is the whole machine's memory ({count} x {spec_gb} GB), not one GPU's"
            ),
        ));
    }
    Err((
        "gpu_vram_gb",
        format!("{stated} GB contradicts the spec table: {id} has {spec_gb} GB"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Date;

    const HEADER: &str = "provider,category,offering,region,instance_type,gpu,gpu_count,gpu_vram_gb,vcpus,ram_gb,price_hour,spot_price_hour,currency,egress_per_gb,billing,reliability,queue_wait_h,pricing,source,as_of,notes";

    fn rates() -> Rates {
        Rates::parse("currency,usd_per_unit,source,as_of\nGLM,0.2,test,2026-11-01\n").unwrap()
    }

    fn load(rows: &[&str]) -> LoadReport {
        let text = format!("{HEADER}\n{}\n", rows.join("\n"));
        load_offers(
            &text,
            Origin::File("test.csv".into()),
            GpuTable::embedded(),
            &rates(),
        )
    }

    const GOOD: &str = "aws,hyperscaler,EC2 P5,us-east-1,p5.48xlarge,H100-SXM,8,80,192,2048,55.04,24.5,USD,0.09,per-second,,,cash,aws price list,2026-11-09,";

    fn rejected_with(row: &str, column: &str, needle: &str) {
        let r = load(&[GOOD, row]);
        assert_eq!(r.offers.len(), 1, "the good row still loads");
        assert_eq!(r.rejected.len(), 1, "{:?}", r.rejected);
        let e = &r.rejected[0];
        assert_eq!(e.line, 3, "{e}");
        assert_eq!(e.column.as_deref(), Some(column), "{e}");
        assert!(e.message.contains(needle), "{e}");
        assert!(e.to_string().starts_with("test.csv:3: "), "{e}");
    }

    #[test]
    fn rows_dated_after_today_are_rejected_by_one_rule() {
        let today = Date::ymd(2026, 12, 3);
        for (as_of, future) in [
            ("2026-12-03", false),
            ("2026-12", false),
            ("2026-12-04", true),
            ("2027-06", true),
            ("2999-01", true),
        ] {
            let row = GOOD.replace("2026-11-09", as_of);
            let mut r = load(&[GOOD, &row]);
            assert_eq!(r.reject_future(today), usize::from(future), "{as_of}");
            assert_eq!(r.offers.len(), 2 - usize::from(future), "{as_of}");
            if future {
                let e = &r.rejected[0];
                assert_eq!((e.line, e.column.as_deref()), (3, Some("as_of")), "{e}");
                assert!(
                    e.to_string().starts_with(&format!(
                        "test.csv:3: as_of: {as_of} is after today (2026-12-03)"
                    )),
                    "{e}"
                );
            }
        }
    }

    #[test]
    fn line_numbers_hold_for_crlf_files_and_quoted_multi_line_fields() {
        let bad = GOOD.replace("H100-SXM", "H1000");
        // What spreadsheets write: CRLF line ends.
        let text = format!("{HEADER}\r\n{GOOD}\r\n{GOOD}\r\n{bad}\r\n");
        let r = load_offers(
            &text,
            Origin::File("t.csv".into()),
            GpuTable::embedded(),
            &rates(),
        );
        assert_eq!(r.offers.len(), 2);
        assert_eq!(r.rejected[0].line, 4, "{}", r.rejected[0]);
        assert_eq!((r.offers[0].line, r.offers[1].line), (2, 3));
        // A note over three lines: the next row's line counts them.
        let multi = GOOD.replacen(
            ",aws price list,2026-11-09,",
            ",aws price list,2026-11-09,\"one\ntwo\nthree\"",
            1,
        );
        let text = format!("{HEADER}\n{multi}\n{bad}\n");
        let r = load_offers(
            &text,
            Origin::File("t.csv".into()),
            GpuTable::embedded(),
            &rates(),
        );
        assert_eq!(r.offers.len(), 1, "{:?}", r.rejected);
        assert_eq!(r.offers[0].notes, "one\ntwo\nthree");
        assert_eq!(r.rejected[0].line, 5, "{}", r.rejected[0]);
    }

    #[test]
    fn a_row_that_is_not_utf8_is_rejected_by_its_line_and_the_rest_load() {
        let mut text = format!("{HEADER}\n{GOOD}\n").into_bytes();
        // "Montréal" in Latin-1, as a spreadsheet's legacy export writes it.
        text.extend(
            GOOD.replace("EC2 P5", "Montr\u{FFFD}al")
                .replace('\u{FFFD}', "\u{1}")
                .bytes()
                .map(|b| if b == 1 { 0xE9 } else { b }),
        );
        text.extend(format!("\n{GOOD}\n").bytes());
        let r = load_offers(
            &text,
            Origin::File("t.csv".into()),
            GpuTable::embedded(),
            &rates(),
        );
        assert_eq!(r.offers.len(), 2, "{:?}", r.rejected);
        assert_eq!(r.rejected.len(), 1);
        let e = &r.rejected[0];
        assert_eq!((e.line, e.column.as_deref()), (3, Some("offering")), "{e}");
        assert!(
            e.message.contains("not UTF-8") && e.message.contains("byte 6"),
            "{e}"
        );
    }

    #[test]
    fn an_implausible_price_is_an_error() {
        rejected_with(
            &GOOD.replace("55.04", "1e308"),
            "price_hour",
            "not a plausible hourly price",
        );
        rejected_with(
            &GOOD.replace("24.5", "1e9"),
            "spot_price_hour",
            "not a plausible",
        );
    }

    #[test]
    fn a_good_row_loads_with_its_origin_and_line() {
        let r = load(&[GOOD]);
        assert!(r.rejected.is_empty(), "{:?}", r.rejected);
        let o = &r.offers[0];
        assert_eq!(o.price_hour, Some(55.04));
        assert_eq!(o.line, 2);
        assert_eq!(o.origin.to_string(), "test.csv");
        assert_eq!(GpuTable::embedded().get(o.gpu).id, "H100-SXM");
    }

    #[test]
    fn zero_or_negative_price_is_rejected_outside_allocation() {
        rejected_with(
            &GOOD.replace("55.04", "0.00"),
            "price_hour",
            "a $0 price would be picked as free",
        );
        rejected_with(&GOOD.replace("55.04", "-3"), "price_hour", "not a price");
        rejected_with(
            &GOOD.replace("24.5", "0.00"),
            "spot_price_hour",
            "not captured",
        );
    }

    #[test]
    fn allocation_and_volunteer_rows_have_no_cash_price() {
        let r = load(&[
            "alliance,academic,Narval,narval,4xA100 node,A100-40GB-SXM,4,40,48,498,,,USD,,none,,24,allocation,alliance wiki,2026-11-01,",
        ]);
        assert!(r.rejected.is_empty(), "{:?}", r.rejected);
        assert_eq!(r.offers[0].price_hour, None);
        rejected_with(
            "alliance,academic,Narval,narval,n,A100-40GB-SXM,4,40,,,2.5,,USD,,none,,24,allocation,wiki,2026-11-01,",
            "price_hour",
            "no cash price",
        );
    }

    #[test]
    fn spot_above_on_demand_is_rejected() {
        rejected_with(
            &GOOD.replace("24.5", "60"),
            "spot_price_hour",
            "above on-demand",
        );
    }

    #[test]
    fn vram_rules() {
        rejected_with(
            &GOOD.replace(",80,192", ",0,192"),
            "gpu_vram_gb",
            "not a memory size",
        );
        rejected_with(
            &GOOD.replace(",80,192", ",640,192"),
            "gpu_vram_gb",
            "whole machine's memory (8 x 80 GB)",
        );
        rejected_with(
            &GOOD.replace(",80,192", ",40,192"),
            "gpu_vram_gb",
            "contradicts the spec table: H100-SXM has 80 GB",
        );
        // MiB read as GiB is within tolerance: 81559 MiB = 79.6 GiB.
        let r = load(&[&GOOD.replace(",80,192", ",79.6,192")]);
        assert!(r.rejected.is_empty(), "{:?}", r.rejected);
    }

    #[test]
    fn unknown_or_ambiguous_gpu_is_rejected() {
        rejected_with(&GOOD.replace("H100-SXM", "H1OO-SXM"), "gpu", "unknown GPU");
        rejected_with(&GOOD.replace("H100-SXM", "A100"), "gpu", "ambiguous");
    }

    #[test]
    fn missing_source_or_date_is_rejected() {
        rejected_with(
            &GOOD.replace("aws price list", ""),
            "source",
            "where it came from",
        );
        rejected_with(
            &GOOD.replace("2026-11-09", ""),
            "as_of",
            "date it was observed",
        );
        rejected_with(
            &GOOD.replace("2026-11-09", "~2025-05"),
            "as_of",
            "not a date",
        );
    }

    #[test]
    fn other_fields_are_checked() {
        rejected_with(&GOOD.replace(",8,80", ",0,80"), "gpu_count", ">= 1");
        rejected_with(
            &GOOD.replace("hyperscaler", "cloudy"),
            "category",
            "unknown category",
        );
        rejected_with(
            &GOOD.replace("per-second", "hourly"),
            "billing",
            "unknown billing",
        );
        rejected_with(
            &GOOD.replace(",USD,", ",EUR,"),
            "currency",
            "no exchange rate",
        );
        rejected_with(
            &GOOD.replace("55.04", "cheap"),
            "price_hour",
            "not a number",
        );
        rejected_with(&GOOD.replace("0.09", "-0.09"), "egress_per_gb", ">= 0");
    }

    #[test]
    fn other_currencies_convert_to_usd() {
        let r = load(&[
            "golem,decentralized,GPU provider,global,x,RTX-3090,1,,,,0.5,,GLM,,per-second,,,cash,golem docs,2026-11-01,",
        ]);
        assert!(r.rejected.is_empty(), "{:?}", r.rejected);
        assert!((r.offers[0].price_hour.unwrap() - 0.1).abs() < 1e-12);
        assert_eq!(r.offers[0].price_hour_original, Some(0.5));
    }

    #[test]
    fn wrong_header_rejects_the_file_naming_the_column() {
        let text = HEADER.replace("spot_price_hour", "spot_price") + "\n" + GOOD + "\n";
        let r = load_offers(
            &text,
            Origin::File("x.csv".into()),
            GpuTable::embedded(),
            &rates(),
        );
        assert!(r.offers.is_empty());
        let msg = r.rejected[0].to_string();
        assert!(
            msg.contains("unknown column 'spot_price'") && msg.contains("spot_price_hour"),
            "{msg}"
        );
    }

    #[test]
    fn short_rows_are_rejected() {
        let r = load(&[GOOD, "aws,hyperscaler"]);
        assert_eq!(r.offers.len(), 1);
        assert!(r.rejected[0].message.contains("expected 21 fields"));
    }
}
