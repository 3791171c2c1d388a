# frozen_string_literal: true

module TaskerCore
  module Tracing
    VERSION = "0.1.0"
  end
end
