"""Seed 004's complete workflow example, run as written against a live gateway.

The DataFlowClient class below is the document's, unchanged. The only additions: the
base URL and token come from the command line, the token rides as a default header of
every `requests` call, and a second flow with a config the gateway can run.

  python3 dataflow_client.py BASE_URL TOKEN
"""
import sys

import requests
import requests.sessions

BASE_URL, TOKEN = sys.argv[1], sys.argv[2]

_request = requests.sessions.Session.request


def _with_token(self, method, url, **kwargs):
    headers = dict(kwargs.pop("headers", None) or {})
    headers.setdefault("Authorization", f"Bearer {TOKEN}")
    return _request(self, method, url, headers=headers, **kwargs)


requests.sessions.Session.request = _with_token

# ---- from the document, unchanged ----
import requests
import time
import json

class DataFlowClient:
    def __init__(self, base_url):
        self.base_url = base_url

    def create_dataflow(self, name, description, config=None):
        """创建数据流"""
        url = f"{self.base_url}/add-dataflow"
        data = {
            "name": name,
            "description": description,
            "status": "active",
            "config": config or {}
        }
        response = requests.post(url, json=data)
        return response.json()

    def execute_dataflow(self, dataflow_id, params=None):
        """执行数据流"""
        url = f"{self.base_url}/execute-dataflow/{dataflow_id}"
        data = {"params": params or {}}
        response = requests.post(url, json=data)
        return response.json()

    def wait_for_completion(self, dataflow_id, timeout=300):
        """等待数据流执行完成"""
        start_time = time.time()
        while time.time() - start_time < timeout:
            url = f"{self.base_url}/get-dataflow-status/{dataflow_id}"
            response = requests.get(url)
            data = response.json()

            if data["code"] == 200:
                status = data["data"]["status"]
                progress = data["data"]["progress"]
                print(f"执行状态: {status}, 进度: {progress}%")

                if status in ["completed", "failed"]:
                    return status

            time.sleep(5)

        return "timeout"

# 使用示例
client = DataFlowClient(BASE_URL)

# 1. 创建数据流
result = client.create_dataflow(
    "销售数据分析",
    "分析每日销售数据并生成报表",
    {"source": "mysql", "target": "report"}
)

if result["code"] == 200:
    dataflow_id = result["data"]["id"]
    print(f"数据流创建成功,ID: {dataflow_id}")

    # 2. 执行数据流
    exec_result = client.execute_dataflow(dataflow_id, {
        "date_range": "2023-12-01,2023-12-07"
    })

    if exec_result["code"] == 200:
        print("数据流开始执行")

        # 3. 等待执行完成
        final_status = client.wait_for_completion(dataflow_id)
        print(f"最终状态: {final_status}")
# ---- end of the document's example ----

# The same client with a flow this gateway can run: orders → a filtered copy.
copy = client.create_dataflow("订单复制", "orders → orders_copy", {
    "source": {"type": "sql", "query": "SELECT o_id, region AS area, amount, day FROM orders WHERE region = :region"},
    "target": {"type": "dataset", "id": "orders_copy", "mode": "upsert"},
})
assert copy["code"] == 200, copy
copy_id = copy["data"]["id"]
assert client.execute_dataflow(copy_id, {"region": "east"})["code"] == 200
final = client.wait_for_completion(copy_id)
print(f"copy final: {final}")
status = requests.get(f"{BASE_URL}/get-dataflow-status/{copy_id}").json()["data"]
assert status["rows_written"] == 34, status
assert result["code"] == 200 and final == "completed"
