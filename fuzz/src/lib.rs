//! What the fuzz targets share: turning one fuzzer input into a byte stream and the reads it
//! arrives in.

/// Past this many reads, the last read takes the rest: it keeps one input fast to run.
pub const MAX_READS: usize = 4096;

/// Split a fuzzer input into read sizes and the stream they cut.
///
/// The first byte says how many of the following bytes are read sizes; the rest is the stream.
/// A size byte below 128 is a read of that many bytes (0 included: a harmless empty feed);
/// from 128 up it is a read of `(b - 127) * 128` bytes, up to 16 KiB, so one read can carry
/// a whole overlong line. The sizes repeat until the stream is used up; with no sizes, or
/// once [`MAX_READS`] is reached (a cycle of zeros), one last read takes what is left.
pub fn reads(data: &[u8]) -> Vec<&[u8]> {
    let Some((&count, rest)) = data.split_first() else {
        return Vec::new();
    };
    let count = usize::from(count).min(rest.len());
    let (sizes, mut stream) = rest.split_at(count);
    let mut reads = Vec::new();
    for &size in sizes.iter().cycle() {
        if stream.is_empty() {
            break;
        }
        if reads.len() + 1 == MAX_READS {
            reads.push(stream);
            return reads;
        }
        let size = match size {
            0..128 => usize::from(size),
            _ => usize::from(size - 127) * 128,
        };
        let (read, tail) = stream.split_at(size.min(stream.len()));
        reads.push(read);
        stream = tail;
    }
    if reads.is_empty() {
        reads.push(stream);
    }
    reads
}

/// The whole stream the reads carry.
pub fn stream(reads: &[&[u8]]) -> Vec<u8> {
    reads.concat()
}
