//! The Prometheus client's process metrics (`process_cpu_seconds_total`,
//! `process_resident_memory_bytes`, `process_virtual_memory_bytes`, `process_open_fds`,
//! `process_max_fds`, `process_start_time_seconds`), which every Go operator exposes and
//! dashboards for Kubeflow's read. Read from Linux's `/proc` at each scrape; on other systems
//! there is nothing to read and they are left out.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// What `/proc` says of this process.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessStats {
    pub cpu_seconds: f64,
    pub resident_bytes: f64,
    pub virtual_bytes: f64,
    pub open_fds: f64,
    pub max_fds: Option<f64>,
    pub start_time_seconds: f64,
}

/// The kernel's clock ticks per second and page size.
fn sysconf(name: libc::c_int) -> Option<f64> {
    // SAFETY: sysconf only reads a system setting.
    let value = unsafe { libc::sysconf(name) };
    (value > 0).then_some(value as f64)
}

impl ProcessStats {
    /// This process's figures, if `/proc` can be read.
    pub fn read() -> Option<ProcessStats> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let boot_time = std::fs::read_to_string("/proc/stat")
            .ok()?
            .lines()
            .find_map(|l| l.strip_prefix("btime "))?
            .trim()
            .parse::<f64>()
            .ok()?;
        let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as f64;
        let max_fds = std::fs::read_to_string("/proc/self/limits")
            .ok()
            .and_then(|limits| max_open_files(&limits));
        Self::from_stat(
            &stat,
            boot_time,
            sysconf(libc::_SC_CLK_TCK)?,
            sysconf(libc::_SC_PAGESIZE)?,
            open_fds,
            max_fds,
        )
    }

    /// Reads `/proc/self/stat` (fields after the command name, which may hold spaces).
    fn from_stat(
        stat: &str,
        boot_time: f64,
        ticks: f64,
        page_size: f64,
        open_fds: f64,
        max_fds: Option<f64>,
    ) -> Option<ProcessStats> {
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        // Field 3 (state) is fields[0]: utime is field 14, stime 15, starttime 22, vsize 23,
        // rss 24.
        let field = |n: usize| fields.get(n - 3)?.parse::<f64>().ok();
        Some(ProcessStats {
            cpu_seconds: (field(14)? + field(15)?) / ticks,
            resident_bytes: field(24)? * page_size,
            virtual_bytes: field(23)?,
            open_fds,
            max_fds,
            start_time_seconds: boot_time + field(22)? / ticks,
        })
    }
}

/// The soft limit of open files from `/proc/self/limits`.
fn max_open_files(limits: &str) -> Option<f64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Registered in the registry: reads the figures at each scrape.
#[derive(Debug)]
pub struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(stats) = ProcessStats::read() else {
            return Ok(());
        };
        let cpu = ConstCounter::new(stats.cpu_seconds);
        cpu.encode(encoder.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds.",
            None,
            cpu.metric_type(),
        )?)?;
        let mut gauges = vec![
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                stats.resident_bytes,
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                stats.virtual_bytes,
            ),
            (
                "process_open_fds",
                "Number of open file descriptors.",
                stats.open_fds,
            ),
            (
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                stats.start_time_seconds,
            ),
        ];
        if let Some(max) = stats.max_fds {
            gauges.push((
                "process_max_fds",
                "Maximum number of open file descriptors.",
                max,
            ));
        }
        for (name, help, value) in gauges {
            let gauge = ConstGauge::new(value);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_read_after_the_command_name() {
        let stat = "4242 (spark operator) S 1 4242 4242 0 -1 4194560 2000 0 0 0 150 50 0 0 20 0 \
                    8 0 12345 104857600 2560 18446744073709551615";
        let stats =
            ProcessStats::from_stat(stat, 1_700_000_000.0, 100.0, 4096.0, 9.0, Some(1024.0))
                .unwrap();
        assert_eq!(stats.cpu_seconds, 2.0);
        assert!((stats.start_time_seconds - 1_700_000_123.45).abs() < 1e-3);
        assert_eq!(stats.virtual_bytes, 104_857_600.0);
        assert_eq!(stats.resident_bytes, 2560.0 * 4096.0);
        assert_eq!(
            max_open_files(
                "Max open files            1048576              1048576              files"
            ),
            Some(1_048_576.0)
        );
    }

    #[test]
    fn this_process_is_read_from_proc() {
        let stats = ProcessStats::read().expect("Linux /proc");
        assert!(stats.resident_bytes > 1e6, "{stats:?}");
        assert!(stats.open_fds >= 3.0);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(stats.start_time_seconds <= now && stats.start_time_seconds > now - 3600.0);
    }
}
