print("wechat-portrait-exporter: under construction")
