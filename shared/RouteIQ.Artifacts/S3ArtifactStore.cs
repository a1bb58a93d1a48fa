using System.Buffers;
using System.Net;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using RouteIQ.Contracts;

namespace RouteIQ.Artifacts;

/// <summary>
/// Artifacts in S3 or any S3-compatible server (MinIO, s3rver, Ceph). Objects larger than one
/// part are uploaded in parts, so memory stays at one part whatever the object's size.
/// </summary>
public sealed class S3ArtifactStore : IArtifactStore, IDisposable
{
    public const int PartSize = 8 * 1024 * 1024;

    private readonly IAmazonS3 _s3;
    private readonly string _bucket;
    private readonly string _prefix;
    private readonly bool _compatible;

    public S3ArtifactStore(IAmazonS3 s3, string bucket, string prefix, bool s3Compatible)
    {
        _s3 = s3;
        _bucket = bucket;
        _prefix = ArtifactKeys.NormalizePrefix(prefix);
        _compatible = s3Compatible;
        Root = new Uri($"s3://{bucket}/{_prefix}");
    }

    public Uri Root { get; }

    public string Bucket => _bucket;

    public string GetUri(string key) => $"s3://{_bucket}/{_prefix}{ArtifactKeys.Normalize(key)}";

    /// <summary>The object key inside the bucket for a store key.</summary>
    public string ObjectKey(string key) => _prefix + ArtifactKeys.Normalize(key);

    public static S3ArtifactStore Create(string bucket, string prefix, S3Settings settings)
    {
        var config = new AmazonS3Config
        {
            ForcePathStyle = settings.ForcePathStyle,
            Timeout = TimeSpan.FromMinutes(5),
            MaxErrorRetry = 4,
        };
        if (!string.IsNullOrEmpty(settings.ServiceUrl))
        {
            config.ServiceURL = settings.ServiceUrl;
            config.AuthenticationRegion = settings.Region;
        }
        else
        {
            config.RegionEndpoint = Amazon.RegionEndpoint.GetBySystemName(settings.Region);
        }
        if (settings.S3Compatible)
        {
            // Servers other than AWS (s3rver, older MinIO, Ceph) reject the SDK's default
            // trailing checksums: send and verify them only when an operation requires it.
            config.RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED;
            config.ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED;
        }
        AmazonS3Client client = settings.AccessKey is { Length: > 0 } && settings.SecretKey is { Length: > 0 }
            ? new AmazonS3Client(new BasicAWSCredentials(settings.AccessKey, settings.SecretKey), config)
            : new AmazonS3Client(config);
        return new S3ArtifactStore(client, bucket, prefix, settings.S3Compatible);
    }

    public async Task<ArtifactFile> PutAsync(string key, Stream content, CancellationToken cancellationToken = default)
    {
        var objectKey = ObjectKey(key);
        var normalized = ArtifactKeys.Normalize(key);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = ArrayPool<byte>.Shared.Rent(PartSize);
        try
        {
            var first = await FillAsync(content, buffer, cancellationToken);
            hash.AppendData(buffer, 0, first);
            if (first < PartSize)
            {
                using var body = new MemoryStream(buffer, 0, first, writable: false);
                await _s3.PutObjectAsync(new PutObjectRequest
                {
                    BucketName = _bucket,
                    Key = objectKey,
                    InputStream = body,
                    AutoCloseStream = false,
                    UseChunkEncoding = !_compatible,
                }, cancellationToken);
                return new ArtifactFile(normalized, Convert.ToHexStringLower(hash.GetHashAndReset()), first);
            }

            var upload = await _s3.InitiateMultipartUploadAsync(new InitiateMultipartUploadRequest { BucketName = _bucket, Key = objectKey }, cancellationToken);
            var parts = new List<PartETag>();
            long total = 0;
            try
            {
                var length = first;
                var partNumber = 1;
                while (length > 0)
                {
                    using (var body = new MemoryStream(buffer, 0, length, writable: false))
                    {
                        var response = await _s3.UploadPartAsync(new UploadPartRequest
                        {
                            BucketName = _bucket,
                            Key = objectKey,
                            UploadId = upload.UploadId,
                            PartNumber = partNumber,
                            PartSize = length,
                            InputStream = body,
                            UseChunkEncoding = !_compatible,
                        }, cancellationToken);
                        parts.Add(new PartETag(partNumber, response.ETag));
                    }
                    total += length;
                    partNumber++;
                    length = await FillAsync(content, buffer, cancellationToken);
                    hash.AppendData(buffer, 0, length);
                }
                await _s3.CompleteMultipartUploadAsync(new CompleteMultipartUploadRequest
                {
                    BucketName = _bucket,
                    Key = objectKey,
                    UploadId = upload.UploadId,
                    PartETags = parts,
                }, cancellationToken);
            }
            catch
            {
                await _s3.AbortMultipartUploadAsync(new AbortMultipartUploadRequest { BucketName = _bucket, Key = objectKey, UploadId = upload.UploadId }, CancellationToken.None);
                throw;
            }
            return new ArtifactFile(normalized, Convert.ToHexStringLower(hash.GetHashAndReset()), total);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static async Task<int> FillAsync(Stream content, byte[] buffer, CancellationToken cancellationToken)
    {
        var filled = 0;
        while (filled < PartSize)
        {
            var n = await content.ReadAsync(buffer.AsMemory(filled, PartSize - filled), cancellationToken);
            if (n == 0)
            {
                break;
            }
            filled += n;
        }
        return filled;
    }

    public async Task<Stream> OpenReadAsync(string key, CancellationToken cancellationToken = default)
    {
        try
        {
            var response = await _s3.GetObjectAsync(new GetObjectRequest { BucketName = _bucket, Key = ObjectKey(key) }, cancellationToken);
            return new ResponseStream(response);
        }
        catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.NotFound)
        {
            throw new ArtifactNotFoundException(key);
        }
    }

    public async Task<bool> ExistsAsync(string key, CancellationToken cancellationToken = default)
    {
        try
        {
            await _s3.GetObjectMetadataAsync(new GetObjectMetadataRequest { BucketName = _bucket, Key = ObjectKey(key) }, cancellationToken);
            return true;
        }
        catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.NotFound)
        {
            return false;
        }
    }

    public async IAsyncEnumerable<ArtifactEntry> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var request = new ListObjectsV2Request
        {
            BucketName = _bucket,
            Prefix = _prefix + (string.IsNullOrEmpty(prefix) ? "" : ArtifactKeys.Normalize(prefix)),
        };
        var entries = new List<ArtifactEntry>();
        ListObjectsV2Response response;
        do
        {
            response = await _s3.ListObjectsV2Async(request, cancellationToken);
            foreach (var o in response.S3Objects ?? [])
            {
                entries.Add(new ArtifactEntry(o.Key[_prefix.Length..], o.Size ?? 0, o.LastModified is { } m ? new DateTimeOffset(m.ToUniversalTime()) : null));
            }
            request.ContinuationToken = response.NextContinuationToken;
        } while (response.IsTruncated == true);

        entries.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
        foreach (var entry in entries)
        {
            yield return entry;
        }
    }

    public async Task CopyAsync(string sourceKey, string destinationKey, CancellationToken cancellationToken = default)
    {
        try
        {
            await _s3.CopyObjectAsync(new CopyObjectRequest
            {
                SourceBucket = _bucket,
                SourceKey = ObjectKey(sourceKey),
                DestinationBucket = _bucket,
                DestinationKey = ObjectKey(destinationKey),
            }, cancellationToken);
        }
        catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.NotFound)
        {
            if (!_compatible || !await ExistsAsync(sourceKey, cancellationToken))
            {
                throw new ArtifactNotFoundException(sourceKey);
            }
            // Some S3-compatible servers (s3rver) mis-parse the copy source under a key prefix:
            // copy through this process instead, still streaming.
            await using var source = await OpenReadAsync(sourceKey, cancellationToken);
            await PutAsync(destinationKey, source, cancellationToken);
        }
    }

    public Task DeleteAsync(string key, CancellationToken cancellationToken = default)
        => _s3.DeleteObjectAsync(new DeleteObjectRequest { BucketName = _bucket, Key = ObjectKey(key) }, cancellationToken);

    public async Task CheckAsync(CancellationToken cancellationToken = default)
        => await _s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = _bucket, Prefix = _prefix, MaxKeys = 1 }, cancellationToken);

    public void Dispose() => _s3.Dispose();

    /// <summary>Keeps the S3 response alive exactly as long as its body stream.</summary>
    private sealed class ResponseStream(GetObjectResponse response) : Stream
    {
        private readonly Stream _inner = response.ResponseStream;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => response.ContentLength;
        public override long Position { get => _inner.Position; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, count);
        public override int Read(Span<byte> buffer) => _inner.Read(buffer);
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => _inner.ReadAsync(buffer, cancellationToken);
        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => _inner.ReadAsync(buffer, offset, count, cancellationToken);
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _inner.Dispose();
                response.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}

/// <summary>How to reach an S3 endpoint.</summary>
public sealed record S3Settings
{
    /// <summary>Endpoint of an S3-compatible server (MinIO, s3rver); null for AWS.</summary>
    public string? ServiceUrl { get; init; }

    public string Region { get; init; } = "us-east-1";
    public bool ForcePathStyle { get; init; } = true;

    /// <summary>Checksums only when required, no chunked (aws-chunked) uploads.</summary>
    public bool S3Compatible { get; init; } = true;

    /// <summary>Explicit credentials; null uses the standard AWS chain (AWS_ACCESS_KEY_ID, …).</summary>
    public string? AccessKey { get; init; }

    public string? SecretKey { get; init; }
}
