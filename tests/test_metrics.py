async def test_metrics_count_requests_by_route_template(api):
    brand = await api.brand()
    await api.get(f"/v1/brands/{brand['id']}")
    text = (await api.client.get("/metrics")).text
    assert 'socialgov_http_requests_total{method="GET",route="/v1/brands/{brand_id}",status="200"}' in text
    assert brand["id"] not in text  # templates, never raw ids
