def test_probe(prometheus_adapter):
    pa = prometheus_adapter("seed")
    for path in ["/apis", "/apis/custom.metrics.k8s.io", "/apis/external.metrics.k8s.io", "/apis/custom.metrics.k8s.io/v1beta1/pods/x", "/apis/custom.metrics.k8s.io/v1beta1/namespaces/x/y", "/apis/custom.metrics.k8s.io/v1beta3", "/apis/custom.metrics.k8s.io/v1beta1/namespaces/ai-platform/pods/x/http_requests_waiting?labelSelector=x%3D%3Da%3D%3Db"]:
        a = pa.get(path)
        print("\nPROBE", path, a)
