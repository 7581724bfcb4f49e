//! A release's values in a private temporary file, for `helm --values`.

use crate::cloud_error::{CloudError, CloudErrorKind};
use crate::resource::Props;
use serde_json::json;

/// A release's values in a private temporary file (they may hold secrets), for `--values`.
pub struct ValuesFile(tempfile::NamedTempFile);

impl ValuesFile {
    /// Writes the `values` of `props` (JSON is YAML).
    pub fn write(props: &Props, id: &str) -> Result<ValuesFile, CloudError> {
        let values = props.get("values").cloned().unwrap_or_else(|| json!({}));
        let fail = |e: std::io::Error| {
            CloudError::new(
                "write values",
                id,
                CloudErrorKind::Service("Io".into()),
                e.to_string(),
            )
        };
        let mut file = tempfile::NamedTempFile::new().map_err(fail)?;
        std::io::Write::write_all(&mut file, values.to_string().as_bytes()).map_err(fail)?;
        Ok(ValuesFile(file))
    }

    /// Its path.
    pub fn path(&self) -> String {
        self.0.path().display().to_string()
    }
}
