import Glibc
import Parallelism

/// An independent kernel of the same pretraining step, for timing TrainingCore's step against in the
/// same run (issue 14's acceptance): plain SIMD8 code written without TrainingCore's layout or
/// kernels. Same shape and arithmetic: z = X W (P x d by d x F per sample), pooled = sum_p ReLU(z),
/// logits F_j = (s/m) sum_r pooled[j*m + r], softmax cross-entropy, the masked coefficients, the
/// weight gradient X^T M summed over the batch, and the SGD update.
///
/// Its own choices, like the reference of the issue: row-major W (d x F), SIMD8 accumulators in
/// blocks of 2 patches x 32 filters (forward) and 2 input coordinates x 32 filters (backward),
/// the batch split into 2 fixed chunks whatever the thread count (each with its own partial
/// gradient, summed in chunk order), libm's expf/logf. It checks nothing about TrainingCore's bits.
final class ReferenceStep: @unchecked Sendable {
    // @unchecked Sendable: during a job each chunk writes only its own partial gradient, scratch
    // and loss slot; weights and data are read-only until the update after the job.
    let samples: Int, patches: Int, dim: Int, classes: Int, width: Int, filters: Int, batch: Int
    let chunks = 2
    let x: UnsafeMutablePointer<Float>
    let labels: [Int]
    let w: UnsafeMutablePointer<Float>
    let wStride: Int
    let partial: UnsafeMutablePointer<Float>
    let z: UnsafeMutablePointer<Float>, pooled: UnsafeMutablePointer<Float>, coef: UnsafeMutablePointer<Float>
    let loss: UnsafeMutablePointer<Double>
    let pool: ComputePool
    var position = 0

    var flopsPerSample: Double { 4 * Double(patches * dim * filters) }

    init(samples: Int, patches: Int, dim: Int, classes: Int, width: Int, batch: Int, threads: Int) throws {
        precondition((classes * width) % 32 == 0 && dim % 2 == 0 && patches % 2 == 0 && batch % 2 == 0)
        self.samples = samples; self.patches = patches; self.dim = dim; self.classes = classes; self.width = width
        self.batch = batch
        filters = classes * width
        // Deterministic pseudo-random data of the same scale as the task's (noise 0.5/sqrt(d)).
        var state: UInt64 = 0x1234_5678
        func uniform() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(state >> 40) / Float(1 << 24) - 0.5
        }
        x = .allocate(capacity: samples * patches * dim)
        for i in 0..<(samples * patches * dim) { x[i] = uniform() * 0.2 }
        labels = (0..<samples).map { _ in Int((uniform() + 0.5) * Float(classes)) % classes }
        // Rows padded by 16 floats: 1 KiB apart, a panel's rows would share 4 of L1's 64 sets.
        wStride = filters + 16
        w = .allocate(capacity: dim * wStride)
        for i in 0..<(dim * wStride) { w[i] = i % wStride < filters ? uniform() * 0.01 : 0 }
        let perChunk = batch / chunks
        partial = .allocate(capacity: chunks * dim * filters)
        z = .allocate(capacity: chunks * perChunk * patches * filters)
        pooled = .allocate(capacity: chunks * perChunk * filters)
        coef = .allocate(capacity: chunks * perChunk * filters)
        loss = .allocate(capacity: chunks)
        pool = try ComputePool(threads: threads)
    }

    deinit {
        pool.shutdown()
        for p in [x, w, partial, z, pooled, coef] { p.deallocate() }
        loss.deallocate()
    }

    private func chunk(_ c: Int, first: Int) {
        let P = patches, d = dim, F = filters, m = width, C = classes
        let n = batch / chunks
        let zc = z + c * n * P * F, pc = pooled + c * n * F, cc = coef + c * n * F
        let g = partial + c * d * F
        var total = 0.0
        for s in 0..<n {
            let xs = x + (first + s) * P * d
            let zs = zc + s * P * F, ps = pc + s * F
            for fb in stride(from: 0, to: F, by: 32) {
                var pool0 = SIMD8<Float>(), pool1 = SIMD8<Float>(), pool2 = SIMD8<Float>(), pool3 = SIMD8<Float>()
                for p in stride(from: 0, to: P, by: 2) {
                    var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
                    var b0 = SIMD8<Float>(), b1 = SIMD8<Float>(), b2 = SIMD8<Float>(), b3 = SIMD8<Float>()
                    let x0 = xs + p * d, x1 = x0 + d
                    for k in 0..<d {
                        let wk = UnsafeRawPointer(w + k * wStride + fb)
                        let w0 = wk.loadUnaligned(as: SIMD8<Float>.self)
                        let w1 = wk.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self)
                        let w2 = wk.loadUnaligned(fromByteOffset: 64, as: SIMD8<Float>.self)
                        let w3 = wk.loadUnaligned(fromByteOffset: 96, as: SIMD8<Float>.self)
                        let u = x0[k], v = x1[k]
                        a0 = a0.addingProduct(u, w0); a1 = a1.addingProduct(u, w1)
                        a2 = a2.addingProduct(u, w2); a3 = a3.addingProduct(u, w3)
                        b0 = b0.addingProduct(v, w0); b1 = b1.addingProduct(v, w1)
                        b2 = b2.addingProduct(v, w2); b3 = b3.addingProduct(v, w3)
                    }
                    let za = UnsafeMutableRawPointer(zs + p * F + fb), zb = UnsafeMutableRawPointer(zs + (p + 1) * F + fb)
                    za.storeBytes(of: a0, as: SIMD8<Float>.self); za.storeBytes(of: a1, toByteOffset: 32, as: SIMD8<Float>.self)
                    za.storeBytes(of: a2, toByteOffset: 64, as: SIMD8<Float>.self); za.storeBytes(of: a3, toByteOffset: 96, as: SIMD8<Float>.self)
                    zb.storeBytes(of: b0, as: SIMD8<Float>.self); zb.storeBytes(of: b1, toByteOffset: 32, as: SIMD8<Float>.self)
                    zb.storeBytes(of: b2, toByteOffset: 64, as: SIMD8<Float>.self); zb.storeBytes(of: b3, toByteOffset: 96, as: SIMD8<Float>.self)
                    let zero = SIMD8<Float>()
                    pool0 += a0.replacing(with: zero, where: a0 .< 0) + b0.replacing(with: zero, where: b0 .< 0)
                    pool1 += a1.replacing(with: zero, where: a1 .< 0) + b1.replacing(with: zero, where: b1 .< 0)
                    pool2 += a2.replacing(with: zero, where: a2 .< 0) + b2.replacing(with: zero, where: b2 .< 0)
                    pool3 += a3.replacing(with: zero, where: a3 .< 0) + b3.replacing(with: zero, where: b3 .< 0)
                }
                let o = UnsafeMutableRawPointer(ps + fb)
                o.storeBytes(of: pool0, as: SIMD8<Float>.self); o.storeBytes(of: pool1, toByteOffset: 32, as: SIMD8<Float>.self)
                o.storeBytes(of: pool2, toByteOffset: 64, as: SIMD8<Float>.self); o.storeBytes(of: pool3, toByteOffset: 96, as: SIMD8<Float>.self)
            }
            // Logits, softmax cross-entropy, coefficients.
            var logits = [Float](repeating: 0, count: C)
            var top = -Float.infinity
            for j in 0..<C {
                var t: Float = 0
                for r in 0..<m { t += ps[j * m + r] }
                logits[j] = t / Float(m)
                top = max(top, logits[j])
            }
            var sum: Float = 0
            for j in 0..<C { logits[j] = expf(logits[j] - top); sum += logits[j] }
            let label = labels[first + s]
            total += Double(logf(sum) - logf(logits[label]))
            for j in 0..<C {
                let dj = (logits[j] / sum - (j == label ? 1 : 0)) / Float(batch * m)
                for r in 0..<m { cc[s * F + j * m + r] = dj }
            }
            // Masked coefficients in place of z.
            for p in 0..<P {
                for f in stride(from: 0, to: F, by: 8) {
                    let zp = UnsafeMutableRawPointer(zs + p * F + f)
                    let zv = zp.loadUnaligned(as: SIMD8<Float>.self)
                    let cv = UnsafeRawPointer(cc + s * F + f).loadUnaligned(as: SIMD8<Float>.self)
                    zp.storeBytes(of: cv.replacing(with: SIMD8<Float>(), where: zv .<= 0), as: SIMD8<Float>.self)
                }
            }
        }
        loss[c] = total
        // Partial gradient: G[k, f] = sum over the chunk's rows of x[k] * M[f], in blocks of 16
        // rows (M and x of a block stay in L1); accumulators go through G between blocks.
        let rows = n * P
        for r0 in stride(from: 0, to: rows, by: 16) {
            let r1 = min(rows, r0 + 16)
            for k in stride(from: 0, to: d, by: 2) {
                for fb in stride(from: 0, to: F, by: 32) {
                    let ga = UnsafeMutableRawPointer(g + k * F + fb), gb = UnsafeMutableRawPointer(g + (k + 1) * F + fb)
                    var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
                    var b0 = SIMD8<Float>(), b1 = SIMD8<Float>(), b2 = SIMD8<Float>(), b3 = SIMD8<Float>()
                    if r0 > 0 {
                        a0 = ga.loadUnaligned(as: SIMD8<Float>.self); a1 = ga.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self)
                        a2 = ga.loadUnaligned(fromByteOffset: 64, as: SIMD8<Float>.self); a3 = ga.loadUnaligned(fromByteOffset: 96, as: SIMD8<Float>.self)
                        b0 = gb.loadUnaligned(as: SIMD8<Float>.self); b1 = gb.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self)
                        b2 = gb.loadUnaligned(fromByteOffset: 64, as: SIMD8<Float>.self); b3 = gb.loadUnaligned(fromByteOffset: 96, as: SIMD8<Float>.self)
                    }
                    for row in r0..<r1 {
                        let xr = x + first * P * d + row * d
                        let mr = UnsafeRawPointer(zc + row * F + fb)
                        let m0 = mr.loadUnaligned(as: SIMD8<Float>.self)
                        let m1 = mr.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self)
                        let m2 = mr.loadUnaligned(fromByteOffset: 64, as: SIMD8<Float>.self)
                        let m3 = mr.loadUnaligned(fromByteOffset: 96, as: SIMD8<Float>.self)
                        let u = xr[k], v = xr[k + 1]
                        a0 = a0.addingProduct(u, m0); a1 = a1.addingProduct(u, m1)
                        a2 = a2.addingProduct(u, m2); a3 = a3.addingProduct(u, m3)
                        b0 = b0.addingProduct(v, m0); b1 = b1.addingProduct(v, m1)
                        b2 = b2.addingProduct(v, m2); b3 = b3.addingProduct(v, m3)
                    }
                    ga.storeBytes(of: a0, as: SIMD8<Float>.self); ga.storeBytes(of: a1, toByteOffset: 32, as: SIMD8<Float>.self)
                    ga.storeBytes(of: a2, toByteOffset: 64, as: SIMD8<Float>.self); ga.storeBytes(of: a3, toByteOffset: 96, as: SIMD8<Float>.self)
                    gb.storeBytes(of: b0, as: SIMD8<Float>.self); gb.storeBytes(of: b1, toByteOffset: 32, as: SIMD8<Float>.self)
                    gb.storeBytes(of: b2, toByteOffset: 64, as: SIMD8<Float>.self); gb.storeBytes(of: b3, toByteOffset: 96, as: SIMD8<Float>.self)
                }
            }
        }
    }

    /// `count` steps of `batch` samples, in order through the data.
    @discardableResult
    func run(steps count: Int, learningRate: Float = 1) -> Double {
        var last = 0.0
        for _ in 0..<count {
            if position + batch > samples { position = 0 }
            let first = position
            let perChunk = batch / chunks
            pool.run(count: chunks) { [self] c, _ in chunk(c, first: first + c * perChunk) }
            // Sum the partials in chunk order and update (8 lanes at a time).
            let size = dim * filters
            for i in stride(from: 0, to: size, by: 8) {
                var s = UnsafeRawPointer(partial + i).loadUnaligned(as: SIMD8<Float>.self)
                for c in 1..<chunks { s += UnsafeRawPointer(partial + c * size + i).loadUnaligned(as: SIMD8<Float>.self) }
                let wi = UnsafeMutableRawPointer(w + (i / filters) * wStride + i % filters)
                wi.storeBytes(of: wi.loadUnaligned(as: SIMD8<Float>.self) - learningRate * s, as: SIMD8<Float>.self)
            }
            last = (loss[0] + loss[1]) / Double(batch)
            position += batch
        }
        return last
    }
}
