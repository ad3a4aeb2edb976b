#include "analyzer/event_pipeline.h"

#include <utility>

namespace memtrace::analyzer {

EventPipeline::EventPipeline(std::unique_ptr<format::TraceReader> reader) : reader_(std::move(reader)) {
  for (Batch& batch : batches_) batch.events.resize(kBatchEvents);
  thread_ = std::thread([this] { Produce(); });
}

EventPipeline::~EventPipeline() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void EventPipeline::Produce() {
  for (size_t slot = 0;; slot = (slot + 1) % kBatches) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait(lock, [&] { return stop_ || !full_[slot]; });
      if (stop_) return;
    }
    Batch& batch = batches_[slot];
    Fill(batch);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      full_[slot] = true;
    }
    changed_.notify_all();
    if (batch.last) return;
  }
}

void EventPipeline::Fill(Batch& batch) {
  batch.count = 0;
  batch.frames.clear();
  batch.bytes.clear();
  batch.copied.clear();
  batch.last = false;
  while (batch.count < kBatchEvents) {
    format::Event& event = batch.events[batch.count];
    if (!reader_->Next(&event)) {
      batch.last = true;
      break;
    }
    if (event.frame_count || event.byte_count || event.build_id_count) {
      const Batch::Copied copied{static_cast<uint32_t>(batch.count),
                                 static_cast<uint32_t>(batch.frames.size()),
                                 static_cast<uint32_t>(batch.bytes.size()),
                                 static_cast<uint32_t>(batch.bytes.size() + event.byte_count)};
      batch.frames.insert(batch.frames.end(), event.frames, event.frames + event.frame_count);
      batch.bytes.insert(batch.bytes.end(), event.bytes, event.bytes + event.byte_count);
      batch.bytes.insert(batch.bytes.end(), event.build_id, event.build_id + event.build_id_count);
      batch.copied.push_back(copied);
    }
    ++batch.count;
  }
  for (const Batch::Copied& copied : batch.copied) {
    format::Event& event = batch.events[copied.event];
    if (event.frame_count) event.frames = batch.frames.data() + copied.frames_at;
    if (event.byte_count) event.bytes = batch.bytes.data() + copied.bytes_at;
    if (event.build_id_count) event.build_id = batch.bytes.data() + copied.build_id_at;
  }
  batch.chunks_started = reader_->chunks_started();
}

std::span<const format::Event> EventPipeline::NextBatch() {
  std::unique_lock<std::mutex> lock(mutex_);
  if (holding_) {  // the batch handed out last is given back to the reader thread
    full_[(next_ + kBatches - 1) % kBatches] = false;
    holding_ = false;
    changed_.notify_all();
  }
  if (done_) return {};
  changed_.wait(lock, [&] { return full_[next_]; });
  const Batch& batch = batches_[next_];
  next_ = (next_ + 1) % kBatches;
  holding_ = true;
  done_ = batch.last;
  chunks_started_ = batch.chunks_started;
  return {batch.events.data(), batch.count};
}

}  // namespace memtrace::analyzer
