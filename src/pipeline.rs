//! Two-stage streaming: one thread reads (decompresses and hashes) a layer
//! while another walks its tar and runs the rules, so a single huge layer
//! keeps two cores busy. Blocks travel through a bounded channel and are
//! recycled, so memory stays at `DEPTH` blocks whatever the layer's size.

use anyhow::Result;
use std::io::{self, Read};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

/// Bytes moved per hand-over, and blocks in flight between the two stages.
const BLOCK: usize = 1 << 20;
const DEPTH: usize = 4;

type Block = io::Result<Vec<u8>>;

/// Runs `consume` on a scoped thread over the bytes of `source`, which this
/// thread reads to its end (or until `consume` gives up). A read error of
/// `source` reaches `consume` as the error of its own read, unchanged.
pub fn pipelined<T, F>(source: &mut dyn Read, consume: F) -> Result<T>
where
    T: Send,
    F: FnOnce(&mut dyn Read) -> Result<T> + Send,
{
    let (full_tx, full_rx) = sync_channel::<Block>(DEPTH);
    let (empty_tx, empty_rx) = sync_channel::<Vec<u8>>(DEPTH + 2);
    std::thread::scope(|s| {
        let consumer = s.spawn(move || {
            let mut r = ChannelReader {
                full: full_rx,
                empty: empty_tx,
                block: Vec::new(),
                pos: 0,
                done: false,
            };
            consume(&mut r)
        });
        produce(source, &full_tx, &empty_rx);
        drop(full_tx);
        match consumer.join() {
            Ok(v) => v,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// Fills blocks from `source` and sends them until its end, a read error
/// (sent on) or a consumer that stopped listening.
fn produce(source: &mut dyn Read, full: &SyncSender<Block>, empty: &Receiver<Vec<u8>>) {
    loop {
        let mut block = empty.try_recv().unwrap_or_default();
        block.resize(BLOCK, 0);
        let mut n = 0;
        let mut failed = None;
        while n < BLOCK {
            match source.read(&mut block[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        block.truncate(n);
        let end = n < BLOCK;
        if n > 0 && full.send(Ok(block)).is_err() {
            return;
        }
        if let Some(e) = failed {
            let _ = full.send(Err(e));
            return;
        }
        if end {
            return;
        }
    }
}

/// The consuming end: a `Read` over the blocks, handing each back once read.
struct ChannelReader {
    full: Receiver<Block>,
    empty: SyncSender<Vec<u8>>,
    block: Vec<u8>,
    pos: usize,
    done: bool,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.block.len() {
            if self.done {
                return Ok(0);
            }
            match self.full.recv() {
                Ok(Ok(next)) => {
                    let used = std::mem::replace(&mut self.block, next);
                    // The producer may have allocated its own meanwhile: a
                    // full return queue just drops the block.
                    let _ = self.empty.try_send(used);
                    self.pos = 0;
                }
                Ok(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                Err(_) => {
                    self.done = true;
                    return Ok(0);
                }
            }
        }
        let n = buf.len().min(self.block.len() - self.pos);
        buf[..n].copy_from_slice(&self.block[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::{bail, Context};

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn every_byte_arrives_in_order() {
        for len in [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 5 * BLOCK + 17] {
            let data = pattern(len);
            let got = pipelined(&mut &data[..], |r| {
                let mut v = Vec::new();
                // Odd read sizes cross block boundaries.
                let mut buf = [0u8; 4099];
                loop {
                    let n = r.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    v.extend_from_slice(&buf[..n]);
                }
                Ok(v)
            })
            .unwrap();
            assert!(got == data, "length {len}");
        }
    }

    /// A source that yields `good` bytes, then fails.
    struct Failing(usize);

    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0 == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "corrupt deflate stream",
                ));
            }
            let n = buf.len().min(self.0);
            buf[..n].fill(7);
            self.0 -= n;
            Ok(n)
        }
    }

    #[test]
    fn a_read_error_reaches_the_consumer_after_the_good_bytes() {
        let err = pipelined(&mut Failing(BLOCK + 10), |r| {
            let mut v = Vec::new();
            r.read_to_end(&mut v).context("walking")?;
            Ok(v.len())
        })
        .unwrap_err();
        assert_eq!(format!("{err:#}"), "walking: corrupt deflate stream");
    }

    #[test]
    fn a_consumer_that_gives_up_stops_the_producer() {
        // 1 GiB of zeros would take a while: the producer must stop early.
        let mut endless = io::repeat(0).take(1 << 30);
        let err = pipelined(&mut endless, |r| -> Result<()> {
            let mut b = [0u8; 10];
            r.read_exact(&mut b)?;
            bail!("not a tar")
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "not a tar");
        assert!(endless.limit() > (1 << 30) - (DEPTH as u64 + 3) * BLOCK as u64);
    }
}
