/// The version of the training core's arithmetic: which bits a task's results have.
///
/// A task's results are a pure function of its parameters and seed *for one core version*. Any
/// change that alters the bits of any task (a kernel's summation order, the data generation, a
/// random stream, a default that feeds a computation) must increase this number, so that results
/// of different versions never mix in one results directory: the coordinator records the version
/// in `sweep.json` and refuses to resume a directory made by another version unless told to
/// (`--allow-core-change`). A change that keeps every bit (the pinned-bits tests in
/// Tests/TrainingCoreTests pass unchanged) keeps the number.
///
/// - 1: every core so far. Directories made before the version was recorded read as 1. The
///   kernels of issue 14 (packed panels, fused pooling, the panel-parallel backward pass without
///   partial-gradient buffers) compute the same operations in the same order as the kernels they
///   replaced and keep the bits, so they are still version 1.
/// - 2: the science revision of issue 15. The from-scratch baseline's size no longer follows
///   `granularity`; misaligned labels straddle superclasses at g >= k too; fine-tuning has its own
///   batch size (16), runs until its loss stops falling (at most 1000 epochs) and trains full
///   fine-tuning's filters at their own rate; new parameters (filters, samples_per_class,
///   finetune_labels, finetune_head, ...) and metrics. Every hierarchy task's bits changed.
public let coreVersion = 2
